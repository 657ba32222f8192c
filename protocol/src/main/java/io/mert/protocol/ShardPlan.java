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
 *
 * <p>With {@link #byTokens} (fairseq's {@code max_tokens}) each epoch's steps are variable batches, made
 * as fairseq makes them for MERT's dataset: the seeded permutation sorted by clip length, longest first
 * (the permutation breaks ties, as MERT's {@code ordered_indices}), cut greedily into batches whose cost,
 * clips x the largest clip size in the batch, stays within {@code maxTokens} ({@code batch_by_size}), and
 * the batches taken in a seeded order that changes every epoch (the epoch iterator's batch shuffle). The
 * size sequence is the same every epoch, so every epoch has the same number of steps, and every usable clip
 * is trained on exactly once per epoch (no batch is dropped). Ranks take contiguous slices as above; when a
 * batch has fewer clips than there are ranks (an epoch's last, partial batch), the last ranks get none.
 */
public final class ShardPlan {

    private final long seed;
    private final int globalBatch;   // 0 when batching by tokens
    private final int datasetSize;
    private final int stepsPerEpoch;
    private final long maxTokens;    // 0 for a fixed global batch
    private final int[] sizes;       // cost of each clip (its longest crop), by tokens only
    private final long[] lengths;    // sort key of each clip (its audio length), by tokens only

    private int cachedEpoch = -1;
    private int[] cachedPermutation;
    private int cachedBatchEpoch = -1;
    private int[] cachedOrder;       // the epoch's batches laid end to end, in training order
    private int[] cachedStarts;      // batch k is cachedOrder[cachedStarts[k], cachedStarts[k+1])

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
        this.maxTokens = 0;
        this.sizes = null;
        this.lengths = null;
    }

    private ShardPlan(long seed, long maxTokens, int[] sizes, long[] lengths) {
        if (sizes.length != lengths.length) throw new IllegalArgumentException(sizes.length + " sizes but " + lengths.length + " lengths");
        if (sizes.length == 0) throw new IllegalArgumentException("the dataset has no usable clip: add data");
        for (int i = 0; i < sizes.length; i++) {
            if (sizes[i] <= 0 || sizes[i] > maxTokens) {
                throw new IllegalArgumentException("clip " + i + " has size " + sizes[i] + ", outside [1, max_tokens=" + maxTokens + "]");
            }
        }
        this.seed = seed;
        this.globalBatch = 0;
        this.datasetSize = sizes.length;
        this.maxTokens = maxTokens;
        this.sizes = sizes.clone();
        this.lengths = lengths.clone();
        this.stepsPerEpoch = batchStarts(sortedBySize(permutation(0))).length - 1;
    }

    /**
     * Variable batches of at most {@code maxTokens} samples (clips x the largest size in the batch).
     *
     * @param sizes   each usable clip's cost: the longest crop it gives (at most {@code task.max_sample_size})
     * @param lengths each usable clip's audio length, which orders the clips (longest first)
     */
    public static ShardPlan byTokens(long seed, long maxTokens, int[] sizes, long[] lengths) {
        return new ShardPlan(seed, maxTokens, sizes, lengths);
    }

    public boolean batchesByTokens() {
        return maxTokens > 0;
    }

    public int datasetSize() {
        return datasetSize;
    }

    /** Clips of step {@code step}'s global batch, over all ranks. */
    public int batchSize(long step) {
        if (!batchesByTokens()) return globalBatch;
        int k = (int) (step % stepsPerEpoch);
        int[] starts = batches(epochOf(step))[1];
        return starts[k + 1] - starts[k];
    }

    /**
     * By tokens: the crop length of step {@code step}, the smallest size in its batch (MERT crops a batch to
     * its shortest clip, {@code pad_audio} false).
     */
    public int cropSamples(long step) {
        if (!batchesByTokens()) throw new IllegalStateException("a fixed global batch has no per-step crop length");
        int[][] b = batches(epochOf(step));
        int k = (int) (step % stepsPerEpoch);
        int crop = Integer.MAX_VALUE;
        for (int i = b[1][k]; i < b[1][k + 1]; i++) crop = Math.min(crop, sizes[b[0][i]]);
        return crop;
    }

    /** The largest global batch of any step (by tokens: the most clips a batch holds; the fixed batch otherwise). */
    public int largestBatch() {
        if (!batchesByTokens()) return globalBatch;
        int[] starts = batches(0)[1];
        int most = 0;
        for (int k = 0; k < stepsPerEpoch; k++) most = Math.max(most, starts[k + 1] - starts[k]);
        return most;
    }

    /** The epoch's permutation sorted by length, then size, longest first (stable: the permutation breaks ties). */
    private int[] sortedBySize(int[] permutation) {
        Integer[] boxed = new Integer[permutation.length];
        for (int i = 0; i < boxed.length; i++) boxed[i] = permutation[i];
        java.util.Arrays.sort(boxed, (a, b) -> {
            int c = Long.compare(lengths[b], lengths[a]);
            return c != 0 ? c : Integer.compare(sizes[b], sizes[a]);
        });
        int[] out = new int[boxed.length];
        for (int i = 0; i < out.length; i++) out[i] = boxed[i];
        return out;
    }

    /** fairseq's greedy batch_by_size (required_batch_size_multiple 1): start offsets of the batches, then the end. */
    private int[] batchStarts(int[] ordered) {
        int[] starts = new int[ordered.length + 1];
        int count = 0, open = 0;
        long largest = 0;
        for (int i = 0; i < ordered.length; i++) {
            long size = sizes[ordered[i]];
            if (i > open && (i - open + 1) * Math.max(largest, size) > maxTokens) {
                starts[++count] = i;
                open = i;
                largest = 0;
            }
            largest = Math.max(largest, size);
        }
        starts[++count] = ordered.length;
        return java.util.Arrays.copyOf(starts, count + 1);
    }

    /** By tokens: the epoch's clips in training order and its batch boundaries. */
    private synchronized int[][] batches(int epoch) {
        if (epoch != cachedBatchEpoch) {
            int[] ordered = sortedBySize(permutation(epoch));
            int[] starts = batchStarts(ordered);
            int n = starts.length - 1;
            if (n != stepsPerEpoch) throw new IllegalStateException("epoch " + epoch + " has " + n + " batches, epoch 0 " + stepsPerEpoch);
            int[] batchOrder = new int[n];
            for (int k = 0; k < n; k++) batchOrder[k] = k;
            SplitMix64 rng = new SplitMix64(mix(seed ^ BATCH_ORDER_STREAM, epoch));
            for (int k = n - 1; k > 0; k--) {
                int j = (int) rng.nextBounded(k + 1);
                int t = batchOrder[k];
                batchOrder[k] = batchOrder[j];
                batchOrder[j] = t;
            }
            int[] order = new int[ordered.length];
            int[] shuffledStarts = new int[n + 1];
            int at = 0;
            for (int k = 0; k < n; k++) {
                int b = batchOrder[k];
                shuffledStarts[k] = at;
                System.arraycopy(ordered, starts[b], order, at, starts[b + 1] - starts[b]);
                at += starts[b + 1] - starts[b];
            }
            shuffledStarts[n] = at;
            cachedOrder = order;
            cachedStarts = shuffledStarts;
            cachedBatchEpoch = epoch;
        }
        return new int[][] {cachedOrder, cachedStarts};
    }

    private static final long BATCH_ORDER_STREAM = 0x4241544348L; // "BATCH"

    public int stepsPerEpoch() {
        return stepsPerEpoch;
    }

    public int epochOf(long step) {
        return Math.toIntExact(step / stepsPerEpoch);
    }

    /** Position of the step's first sample within its epoch (clips of the epoch trained on before it). */
    public int epochOffsetOf(long step) {
        if (batchesByTokens()) return batches(epochOf(step))[1][(int) (step % stepsPerEpoch)];
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
        if (batchesByTokens()) {
            int[][] b = batches(epochOf(step));
            int k = (int) (step % stepsPerEpoch), size = b[1][k + 1] - b[1][k];
            int[] out = new int[sliceSize(rank, worldSize, size)];
            System.arraycopy(b[0], b[1][k] + sliceStart(rank, worldSize, size), out, 0, out.length);
            return out;
        }
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
        if (batchesByTokens()) {
            return (long) epochOf(step) * datasetSize + epochOffsetOf(step) + sliceStart(rank, worldSize, batchSize(step)) + j;
        }
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
