package io.mert.worker;

import io.mert.model.config.MixupConfig;
import io.mert.protocol.ShardPlan;

import java.util.SplittableRandom;
import java.util.function.IntFunction;

/**
 * MERT's in-batch noise mixup (its {@code inbatch_noise_augment}), drawn in MERT's order: whether to mix,
 * the number of segments, their starts in the pool, their lengths, then each one's position. The pool is
 * the other clips of the step's <em>global</em> batch laid end to end, and every draw comes from
 * (seed, the clip's serial), so a clip is mixed the same way on whichever rank holds it, at any world
 * size. MERT's per-GPU pool would make the data depend on the world size. As in MERT, a draw that does
 * not fit (pool or clip shorter than a segment) leaves the clip clean.
 */
final class InBatchNoiseMixer {

    static final long MIX_STREAM = 0x4d495855L; // "MIXU"

    private final MixupConfig config;
    private final long seed;
    private final int samples;

    InBatchNoiseMixer(MixupConfig config, long seed, int samples) {
        this.config = config;
        this.seed = seed;
        this.samples = samples;
    }

    boolean enabled() {
        return config.enabled();
    }

    /**
     * Adds noise segments to {@code wave[offset, offset + samples)} in place.
     *
     * @param self        this clip's position in the global batch (excluded from the pool)
     * @param globalBatch clips in the global batch
     * @param crop        the cropped waveform of the clip at a global position
     * @return whether the clip was mixed
     */
    boolean mix(float[] wave, int offset, long serial, int self, int globalBatch, IntFunction<float[]> crop) {
        return mix(wave, offset, serial, self, globalBatch, crop, this.samples);
    }

    /** As above, for a step whose clips are cropped to {@code samples} (batches by tokens vary it per step). */
    boolean mix(float[] wave, int offset, long serial, int self, int globalBatch, IntFunction<float[]> crop, int samples) {
        if (!config.enabled()) return false;
        SplittableRandom r = new SplittableRandom(ShardPlan.mix(seed ^ MIX_STREAM, serial));
        if (!(r.nextDouble() > config.mixtureProb())) return false;
        long poolLength = (long) (globalBatch - 1) * samples;
        int n = r.nextInt(config.minNoises(), config.maxNoises() + 1);
        long startBound = poolLength - config.maxLength() + 1;
        if (n == 0 || startBound <= 0) return false;
        long[] starts = new long[n];
        int[] lengths = new int[n];
        for (int k = 0; k < n; k++) starts[k] = r.nextLong(startBound);
        for (int k = 0; k < n; k++) lengths[k] = r.nextInt(config.minLength(), config.maxLength() + 1);
        int[] positions = new int[n];
        for (int k = 0; k < n; k++) {
            int bound = samples - lengths[k] + 1;
            if (bound <= 0) return false; // the clip is shorter than the segment: MERT keeps it clean
            positions[k] = r.nextInt(bound);
        }
        float volume = (float) config.volume();
        for (int k = 0; k < n; k++) {
            for (int t = 0; t < lengths[k]; t++) {
                long p = starts[k] + t;
                int other = (int) (p / samples);
                int global = other < self ? other : other + 1;
                wave[offset + positions[k] + t] += volume * crop.apply(global)[(int) (p % samples)];
            }
        }
        return true;
    }
}
