package io.mert.worker;

import io.mert.data.TrainingClips;
import io.mert.model.Batch;
import io.mert.model.MertConfig;
import io.mert.model.config.MixupConfig;
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
    private final InBatchNoiseMixer mixer;

    BatchAssembler(MertConfig model, TrainingClips clips, Cqt cqt, int cropSamples, long seed) {
        this(model, clips, cqt, cropSamples, seed, MixupConfig.OFF);
    }

    BatchAssembler(MertConfig model, TrainingClips clips, Cqt cqt, int cropSamples, long seed, MixupConfig mixup) {
        this.model = model;
        this.clips = clips;
        this.cqt = cqt;
        this.cropSamples = cropSamples;
        this.frames = model.framesFor(cropSamples);
        this.seed = seed;
        this.mixer = new InBatchNoiseMixer(mixup, seed, cropSamples);
    }

    boolean mixes() {
        return mixer.enabled();
    }

    int frames() {
        return frames;
    }

    private static int positionOf(long serial, long[] globalSerials) {
        for (int j = 0; j < globalSerials.length; j++) if (globalSerials[j] == serial) return j;
        throw new IllegalStateException("draw " + serial + " is not in the step's global batch");
    }

    /** Span mask of a draw: a pure function of (seed, serial), so any rank can compute any draw's mask. */
    byte[] mask(long serial) {
        return SpanMasking.compute(frames, model.maskProb(), model.maskLength(), ShardPlan.mix(seed ^ MASK_STREAM, serial));
    }

    /** Supervised (masked) frames of a whole step, over every rank's slice. */
    int globalMaskedFrames(ShardPlan plan, long step, int globalBatch) {
        int n = 0;
        for (int j = 0; j < globalBatch; j++) {
            for (byte m : mask(plan.sampleSerial(step, 0, 1, j))) n += m;
        }
        return n;
    }

    /**
     * @param serials             the run-wide serial number of each draw (see {@link ShardPlan#sampleSerial})
     * @param featurePenaltyScale see {@link Batch#featurePenaltyScale()}
     */
    Batch assemble(int[] manifestIndices, long[] serials, double featurePenaltyScale) {
        if (mixer.enabled()) throw new IllegalStateException("with mixup, assemble needs the step's global batch");
        return assemble(manifestIndices, serials, featurePenaltyScale, null, null);
    }

    /**
     * As {@link #assemble(int[], long[], double)}, with in-batch noise mixup over the step's global batch
     * ({@code globalIndices}, {@code globalSerials}: every rank's draws, in global order).
     */
    Batch assemble(int[] manifestIndices, long[] serials, double featurePenaltyScale, int[] globalIndices, long[] globalSerials) {
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
            System.arraycopy(mask(serials[i]), 0, mask, i * frames, frames);
        }
        if (mixer.enabled()) {
            // after the CQT and labels: MERT's targets come from the clean audio
            java.util.Map<Integer, float[]> crops = new java.util.HashMap<>();
            java.util.function.IntFunction<float[]> crop = j -> crops.computeIfAbsent(j, k -> clips.clip(globalIndices[k],
                    ShardPlan.mix(seed ^ CROP_STREAM, globalSerials[k])).waveform());
            for (int i = 0; i < b; i++) {
                int self = positionOf(serials[i], globalSerials);
                mixer.mix(wave, i * cropSamples, serials[i], self, globalSerials.length, crop);
            }
        }
        return new Batch(b, cropSamples, frames, wave, labels, target, mask, featurePenaltyScale);
    }
}
