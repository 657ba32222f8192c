package io.mert.protocol;

/**
 * Which samples each rank trains on at each step: a pure function of
 * {@code (seed, step, rank, worldSize, globalBatch, datasetSize)}, so workers need no data messages
 * and a re-run step after a failure covers exactly the same samples.
 *
 * <p>Each epoch visits a seeded permutation of the manifest; step {@code s} of the run belongs to
 * epoch {@code s / stepsPerEpoch} and takes the next {@code globalBatch} entries of that epoch's
 * permutation (a last partial batch is dropped, as fairseq does with a fixed batch). Rank {@code r}
 * takes a contiguous slice of the step's batch; slices differ in size by at most one. The global
 * batch does not depend on the world size, so the learning trajectory does not either.
 */
public final class ShardPlan {

    private final long seed;
    private final int globalBatch;
    private final int datasetSize;
    private final int stepsPerEpoch;

    private int cachedEpoch = -1;
    private int[] cachedPermutation;

    public ShardPlan(long seed, int globalBatch, int datasetSize) {
        if (globalBatch <= 0) throw new IllegalArgumentException("global batch must be positive, got " + globalBatch);
        if (datasetSize < globalBatch) {
            throw new IllegalArgumentException("the dataset has " + datasetSize + " usable clips, fewer than the global batch of "
                    + globalBatch + ": add data or lower dataset.global_batch_size");
        }
        this.seed = seed;
        this.globalBatch = globalBatch;
        this.datasetSize = datasetSize;
        this.stepsPerEpoch = datasetSize / globalBatch;
    }

    public int stepsPerEpoch() {
        return stepsPerEpoch;
    }

    public int epochOf(long step) {
        return Math.toIntExact(step / stepsPerEpoch);
    }

    /** Position of the step's first sample within its epoch. */
    public int epochOffsetOf(long step) {
        return (int) (step % stepsPerEpoch) * globalBatch;
    }

    /** First index (within the step's batch) of {@code rank}'s slice. */
    public static int sliceStart(int rank, int worldSize, int globalBatch) {
        checkRank(rank, worldSize);
        int base = globalBatch / worldSize, extra = globalBatch % worldSize;
        return rank * base + Math.min(rank, extra);
    }

    public static int sliceSize(int rank, int worldSize, int globalBatch) {
        checkRank(rank, worldSize);
        return globalBatch / worldSize + (rank < globalBatch % worldSize ? 1 : 0);
    }

    /** Manifest indices that {@code rank} trains on at {@code step}. */
    public int[] manifestIndices(long step, int rank, int worldSize) {
        int[] perm = permutation(epochOf(step));
        int from = epochOffsetOf(step) + sliceStart(rank, worldSize, globalBatch);
        int[] out = new int[sliceSize(rank, worldSize, globalBatch)];
        System.arraycopy(perm, from, out, 0, out.length);
        return out;
    }

    /**
     * A number unique to each sample draw of the run (the j-th sample of step s), used to seed its
     * crop and mask, so the same draw gets the same crop and mask on whichever rank runs it.
     */
    public long sampleSerial(long step, int rank, int worldSize, int j) {
        return step * globalBatch + sliceStart(rank, worldSize, globalBatch) + j;
    }

    /** Seeded Fisher-Yates permutation of the manifest for one epoch. */
    public synchronized int[] permutation(int epoch) {
        if (epoch != cachedEpoch) {
            int[] p = new int[datasetSize];
            for (int i = 0; i < p.length; i++) p[i] = i;
            SplitMix64 rng = new SplitMix64(mix(seed, epoch));
            for (int i = p.length - 1; i > 0; i--) {
                int j = (int) rng.nextBounded(i + 1);
                int t = p[i];
                p[i] = p[j];
                p[j] = t;
            }
            cachedPermutation = p;
            cachedEpoch = epoch;
        }
        return cachedPermutation;
    }

    /** Mixes two numbers into one well-spread seed (SplitMix64 finaliser). */
    public static long mix(long a, long b) {
        return SplitMix64.finalise(a * 0x9E3779B97F4A7C15L + SplitMix64.finalise(b));
    }

    private static void checkRank(int rank, int worldSize) {
        if (worldSize <= 0 || rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException("rank " + rank + " outside world of " + worldSize);
        }
    }

    /** A tiny, exactly specified PRNG, so every JVM draws the same numbers. */
    public static final class SplitMix64 {
        private long state;

        public SplitMix64(long seed) {
            this.state = seed;
        }

        public long nextLong() {
            state += 0x9E3779B97F4A7C15L;
            return finalise(state);
        }

        /** Uniform in [0, bound) without modulo bias. */
        public long nextBounded(long bound) {
            long r, m = bound - 1;
            if ((bound & m) == 0) return nextLong() & m;
            do {
                r = nextLong() >>> 1;
            } while (r - r % bound + m < 0);
            return r % bound;
        }

        /** Uniform in [0, 1). */
        public double nextDouble() {
            return (nextLong() >>> 11) * 0x1.0p-53;
        }

        static long finalise(long z) {
            z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
            return z ^ (z >>> 31);
        }
    }
}
