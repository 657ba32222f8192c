package io.mert.worker;

import io.mert.data.ReadableClips;
import io.mert.data.TrainingClips;
import io.mert.model.Batch;
import io.mert.model.MertConfig;
import io.mert.model.config.MixupConfig;
import io.mert.model.nn.SpanMasking;
import io.mert.model.features.Cqt;
import io.mert.protocol.ShardPlan;

import java.util.ArrayList;
import java.util.List;

/**
 * Builds one rank's batch for a step: the clips the shard plan assigns, each with its seeded crop,
 * aligned labels, CQT target and span mask. Crops and masks depend only on (seed, sample serial),
 * so the same draw yields the same batch row on whichever rank runs it.
 *
 * <p>A draw whose audio cannot be read is replaced by the next readable clip ({@link ReadableClips}),
 * with the draw's own crop and mask seeds, so the replacement too is the same on every rank. In strict
 * mode the {@link io.mert.data.UnreadableAudioException} is thrown instead.
 */
final class BatchAssembler {

    static final long CROP_STREAM = 0x43524f50L;  // "CROP"
    static final long MASK_STREAM = 0x4d41534bL;  // "MASK"

    /** A draw whose audio was unreadable, and the clip trained on in its place. */
    record Replaced(long serial, int drawn, List<ReadableClips.Unreadable> unreadable, int replacement, String replacementPath) {
    }

    /** A rank's batch, the usable indices its rows were actually cropped from, and the draws replaced. */
    record Assembled(Batch batch, int[] indices, List<Replaced> replaced) {
    }

    private final MertConfig model;
    private final ReadableClips clips;
    private final boolean strict;
    private final Cqt cqt;
    private final int cropSamples;
    private final int frames;
    private final long seed;
    private final InBatchNoiseMixer mixer;

    BatchAssembler(MertConfig model, TrainingClips clips, Cqt cqt, int cropSamples, long seed) {
        this(model, clips, cqt, cropSamples, seed, MixupConfig.OFF);
    }

    BatchAssembler(MertConfig model, TrainingClips clips, Cqt cqt, int cropSamples, long seed, MixupConfig mixup) {
        this(model, new ReadableClips(clips), false, cqt, cropSamples, seed, mixup);
    }

    /** @param strict throw on an unreadable clip instead of replacing it */
    BatchAssembler(MertConfig model, ReadableClips clips, boolean strict, Cqt cqt, int cropSamples, long seed, MixupConfig mixup) {
        this.model = model;
        this.clips = clips;
        this.strict = strict;
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

    /** The default crop length (task.max_sample_size); batches by tokens crop each step to its own length. */
    int cropSamples() {
        return cropSamples;
    }

    /** Span mask of a draw: a pure function of (seed, serial), so any rank can compute any draw's mask. */
    byte[] mask(long serial) {
        return mask(serial, frames);
    }

    /** Span mask of a draw over {@code frames} frames (the frames of its step's crop). */
    byte[] mask(long serial, int frames) {
        return SpanMasking.compute(frames, model.maskProb(), model.maskLength(), ShardPlan.mix(seed ^ MASK_STREAM, serial));
    }

    /** Supervised (masked) frames of a whole step, over every rank's slice. */
    int globalMaskedFrames(ShardPlan plan, long step, int globalBatch) {
        return globalMaskedFrames(plan, step, globalBatch, cropSamples);
    }

    /** As above, for a step cropped to {@code crop} samples. */
    int globalMaskedFrames(ShardPlan plan, long step, int globalBatch, int crop) {
        int frames = model.framesFor(crop), n = 0;
        for (int j = 0; j < globalBatch; j++) {
            for (byte m : mask(plan.sampleSerial(step, 0, 1, j), frames)) n += m;
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
        return assembleRows(manifestIndices, serials, featurePenaltyScale, globalIndices, globalSerials).batch();
    }

    /** The clip a draw resolves to: itself, or the next readable one (not in strict mode). */
    private ReadableClips.Drawn draw(int index, long serial, int crop) {
        long cropSeed = ShardPlan.mix(seed ^ CROP_STREAM, serial);
        if (strict) return new ReadableClips.Drawn(clips.clips().clip(index, cropSeed, crop), List.of());
        return clips.clip(index, cropSeed, crop);
    }

    /** As {@link #assemble}, also telling which clips the rows were cut from and which draws were replaced. */
    Assembled assembleRows(int[] manifestIndices, long[] serials, double featurePenaltyScale, int[] globalIndices,
                           long[] globalSerials) {
        return assembleRows(manifestIndices, serials, featurePenaltyScale, globalIndices, globalSerials, cropSamples);
    }

    /** As above, every clip cropped to {@code cropSamples} (labels, CQT target and mask follow its frames). */
    Assembled assembleRows(int[] manifestIndices, long[] serials, double featurePenaltyScale, int[] globalIndices,
                           long[] globalSerials, int cropSamples) {
        int frames = model.framesFor(cropSamples);
        if (mixer.enabled() && globalIndices == null) throw new IllegalStateException("with mixup, assemble needs the step's global batch");
        int[] used = new int[manifestIndices.length];
        List<Replaced> replaced = new ArrayList<>();
        int b = manifestIndices.length, streams = model.labelClasses().size(), bins = model.cqtBins();
        float[] wave = new float[b * cropSamples];
        int[][] labels = new int[streams][b * frames];
        float[] target = new float[b * frames * bins];
        byte[] mask = new byte[b * frames];
        for (int i = 0; i < b; i++) {
            ReadableClips.Drawn drawn = draw(manifestIndices[i], serials[i], cropSamples);
            TrainingClips.Clip clip = drawn.clip();
            used[i] = clip.index();
            if (!drawn.skipped().isEmpty())
                replaced.add(new Replaced(serials[i], manifestIndices[i], drawn.skipped(), clip.index(), clip.path()));
            System.arraycopy(clip.waveform(), 0, wave, i * cropSamples, cropSamples);
            for (int s = 0; s < streams; s++) System.arraycopy(clip.labels()[s], 0, labels[s], i * frames, frames);
            float[] c = cqt.magnitude(clip.waveform());
            // nnAudio's centred CQT has one frame more than the conv extractor; MERT cuts it to the model's frames.
            System.arraycopy(c, 0, target, i * frames * bins, frames * bins);
            System.arraycopy(mask(serials[i], frames), 0, mask, i * frames, frames);
        }
        if (mixer.enabled()) {
            // after the CQT and labels: MERT's targets come from the clean audio
            java.util.Map<Integer, float[]> crops = new java.util.HashMap<>();
            java.util.function.IntFunction<float[]> crop = j -> crops.computeIfAbsent(j,
                    k -> draw(globalIndices[k], globalSerials[k], cropSamples).clip().waveform());
            for (int i = 0; i < b; i++) {
                int self = positionOf(serials[i], globalSerials);
                mixer.mix(wave, i * cropSamples, serials[i], self, globalSerials.length, crop, cropSamples);
            }
        }
        return new Assembled(new Batch(b, cropSamples, frames, wave, labels, target, mask, featurePenaltyScale), used,
                List.copyOf(replaced));
    }
}
