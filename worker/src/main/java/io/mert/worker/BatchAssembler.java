package io.mert.worker;

import io.mert.data.TrainingClips;
import io.mert.model.Batch;
import io.mert.model.MertConfig;
import io.mert.model.nn.SpanMasking;
import io.mert.model.features.Cqt;
import io.mert.protocol.ShardPlan;

/**
 * Builds one rank's batch for a step: the clips the shard plan assigns, each with its seeded crop,
 * aligned labels, CQT target and span mask. Crops and masks depend only on (seed, sample serial),
 * so the same draw yields the same batch row on whichever rank runs it.
 */
final class BatchAssembler {

    static final long CROP_STREAM = 0x43524f50L;  // "CROP"
    static final long MASK_STREAM = 0x4d41534bL;  // "MASK"

    private final MertConfig model;
    private final TrainingClips clips;
    private final Cqt cqt;
    private final int cropSamples;
    private final int frames;
    private final long seed;

    BatchAssembler(MertConfig model, TrainingClips clips, Cqt cqt, int cropSamples, long seed) {
        this.model = model;
        this.clips = clips;
        this.cqt = cqt;
        this.cropSamples = cropSamples;
        this.frames = model.framesFor(cropSamples);
        this.seed = seed;
    }

    int frames() {
        return frames;
    }

    /** @param serials the run-wide serial number of each draw (see {@link ShardPlan#sampleSerial}) */
    Batch assemble(int[] manifestIndices, long[] serials) {
        int b = manifestIndices.length, streams = model.labelClasses().size(), bins = model.cqtBins();
        float[] wave = new float[b * cropSamples];
        int[][] labels = new int[streams][b * frames];
        float[] target = new float[b * frames * bins];
        byte[] mask = new byte[b * frames];
        for (int i = 0; i < b; i++) {
            TrainingClips.Clip clip = clips.clip(manifestIndices[i], ShardPlan.mix(seed ^ CROP_STREAM, serials[i]));
            System.arraycopy(clip.waveform(), 0, wave, i * cropSamples, cropSamples);
            for (int s = 0; s < streams; s++) System.arraycopy(clip.labels()[s], 0, labels[s], i * frames, frames);
            float[] c = cqt.magnitude(clip.waveform());
            // nnAudio's centred CQT has one frame more than the conv extractor; MERT cuts it to the model's frames.
            System.arraycopy(c, 0, target, i * frames * bins, frames * bins);
            byte[] m = SpanMasking.compute(frames, model.maskProb(), model.maskLength(), ShardPlan.mix(seed ^ MASK_STREAM, serials[i]));
            System.arraycopy(m, 0, mask, i * frames, frames);
        }
        return new Batch(b, cropSamples, frames, wave, labels, target, mask);
    }
}
