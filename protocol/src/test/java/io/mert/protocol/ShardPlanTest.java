package io.mert.protocol;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class ShardPlanTest {

    @Test
    void eachEpochVisitsEveryClipAtMostOnceAndDropsOnlyTheLastPartialBatch() {
        ShardPlan plan = new ShardPlan(1337, 8, 37);
        assertEquals(4, plan.stepsPerEpoch());
        for (int epoch = 0; epoch < 3; epoch++) {
            Set<Integer> seen = new HashSet<>();
            for (long step = epoch * 4L; step < epoch * 4L + 4; step++) {
                for (int r = 0; r < 3; r++) {
                    for (int idx : plan.manifestIndices(step, r, 3)) {
                        assertTrue(idx >= 0 && idx < 37);
                        assertTrue(seen.add(idx), "index " + idx + " drawn twice in epoch " + epoch);
                    }
                }
            }
            assertEquals(32, seen.size());
        }
    }

    @Test
    void aStepCoversTheSameSamplesWhateverTheWorldSize() {
        ShardPlan plan = new ShardPlan(7, 12, 100);
        for (long step = 0; step < 20; step++) {
            int[] one = plan.manifestIndices(step, 0, 1);
            for (int world = 2; world <= 12; world++) {
                int[] joined = new int[0];
                for (int r = 0; r < world; r++) {
                    int[] part = plan.manifestIndices(step, r, world);
                    int[] next = Arrays.copyOf(joined, joined.length + part.length);
                    System.arraycopy(part, 0, next, joined.length, part.length);
                    joined = next;
                }
                assertArrayEquals(one, joined, "step " + step + " world " + world);
            }
        }
    }

    @Test
    void slicesAreBalancedAndSerialsMatchAcrossWorldSizes() {
        for (int world = 1; world <= 9; world++) {
            int total = 0;
            for (int r = 0; r < world; r++) {
                int size = ShardPlan.sliceSize(r, world, 9);
                assertTrue(size == 9 / world || size == 9 / world + 1);
                assertEquals(total, ShardPlan.sliceStart(r, world, 9));
                total += size;
            }
            assertEquals(9, total);
        }
        ShardPlan plan = new ShardPlan(1, 9, 50);
        // draw j of rank r is the same serial as the corresponding draw with one worker
        assertEquals(plan.sampleSerial(3, 0, 1, 5), plan.sampleSerial(3, 1, 2, 0));
    }

    @Test
    void permutationsAreSeededAndDifferPerEpoch() {
        ShardPlan a = new ShardPlan(42, 4, 64), b = new ShardPlan(42, 4, 64), c = new ShardPlan(43, 4, 64);
        assertArrayEquals(a.permutation(0).clone(), b.permutation(0).clone());
        assertFalse(Arrays.equals(a.permutation(0).clone(), a.permutation(1).clone()));
        assertFalse(Arrays.equals(b.permutation(0).clone(), c.permutation(0).clone()));
        int[] sorted = a.permutation(5).clone();
        Arrays.sort(sorted);
        for (int i = 0; i < 64; i++) assertEquals(i, sorted[i]);
    }

    @Test
    void refusesADatasetSmallerThanTheBatch() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new ShardPlan(1, 16, 10));
        assertTrue(e.getMessage().contains("global batch"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ShardPlan.sliceSize(3, 3, 8));
    }

    // ---- batches by tokens (dataset.max_tokens) ----

    /** Sizes of 1 to 5 s crops capped at 4 s (96000 samples), lengths up to 20 s, some ties. */
    private static long[] lengths(int n) {
        java.util.SplittableRandom r = new java.util.SplittableRandom(99);
        long[] lengths = new long[n];
        for (int i = 0; i < n; i++) lengths[i] = r.nextInt(4) == 0 ? 96000 : 24000 + r.nextInt(456000);
        return lengths;
    }

    private static int[] sizes(int n) {
        return Arrays.stream(lengths(n)).mapToInt(l -> (int) Math.min(l, 96000)).toArray();
    }

    private static ShardPlan tokenPlan(long seed, long maxTokens, int n) {
        return ShardPlan.byTokens(seed, maxTokens, sizes(n), lengths(n));
    }

    @Test
    void tokenBatchesAreFairseqsGreedyBatchesOverTheSizeSortedClips() {
        // sorted longest first: 5 5 | 4 3 | 3 2 1 with max_tokens 10 (a third clip of 5, or of 4 with 3, would cost 15 or 12)
        int[] sizes = {3, 5, 1, 4, 2, 5, 3};
        long[] lengths = {3, 5, 1, 4, 2, 5, 3};
        ShardPlan plan = ShardPlan.byTokens(7, 10, sizes, lengths);
        assertEquals(3, plan.stepsPerEpoch());
        Set<List<Integer>> batches = new HashSet<>();
        for (int step = 0; step < 3; step++) {
            List<Integer> b = new ArrayList<>();
            for (int i : plan.manifestIndices(step, 0, 1)) b.add(sizes[i]);
            batches.add(b);
            assertEquals(java.util.Collections.min(b), plan.cropSamples(step), "a batch is cropped to its shortest clip");
        }
        assertEquals(Set.of(List.of(5, 5), List.of(4, 3), List.of(3, 2, 1)), batches);
    }

    @Test
    void tokenBatchesStayWithinTheBudgetAndCoverEveryClipOncePerEpoch() {
        long maxTokens = 400_000;
        ShardPlan plan = tokenPlan(1337, maxTokens, 101);
        int steps = plan.stepsPerEpoch();
        int[] sizes = sizes(101);
        assertTrue(steps > 10 && steps < 101, "steps per epoch " + steps);
        List<List<Integer>> firstEpoch = new ArrayList<>();
        for (int epoch = 0; epoch < 3; epoch++) {
            int[] seen = new int[101];
            int offset = 0;
            for (int k = 0; k < steps; k++) {
                long step = (long) epoch * steps + k;
                assertEquals(epoch, plan.epochOf(step));
                assertEquals(offset, plan.epochOffsetOf(step));
                int[] batch = plan.manifestIndices(step, 0, 1);
                assertEquals(batch.length, plan.batchSize(step));
                int largest = 0;
                for (int i : batch) {
                    seen[i]++;
                    largest = Math.max(largest, sizes[i]);
                }
                assertTrue((long) batch.length * largest <= maxTokens, "step " + step + ": " + batch.length + " x " + largest);
                offset += batch.length;
                if (epoch == 0) firstEpoch.add(java.util.Arrays.stream(batch).boxed().toList());
            }
            assertEquals(101, offset);
            for (int i = 0; i < 101; i++) assertEquals(1, seen[i], "clip " + i + " in epoch " + epoch);
        }
        List<List<Integer>> secondEpoch = new ArrayList<>();
        for (int k = 0; k < steps; k++) secondEpoch.add(java.util.Arrays.stream(plan.manifestIndices(steps + k, 0, 1)).boxed().toList());
        assertNotEquals(firstEpoch, secondEpoch, "the batch order changes with the epoch");
    }

    @Test
    void tokenBatchesAreDeterministicAndTheSameAtAnyWorldSize() {
        ShardPlan a = tokenPlan(42, 300_000, 60), b = tokenPlan(42, 300_000, 60), c = tokenPlan(43, 300_000, 60);
        boolean differs = false;
        Set<Long> serials = new HashSet<>();
        for (long step = 0; step < 3L * a.stepsPerEpoch(); step++) {
            int[] whole = a.manifestIndices(step, 0, 1);
            assertArrayEquals(whole, b.manifestIndices(step, 0, 1));
            differs |= !java.util.Arrays.equals(whole, c.manifestIndices(step, 0, 1));
            for (int world = 1; world <= 3; world++) {
                List<Integer> joined = new ArrayList<>();
                for (int r = 0; r < world; r++) {
                    int[] slice = a.manifestIndices(step, r, world);
                    for (int j = 0; j < slice.length; j++) {
                        joined.add(slice[j]);
                        assertEquals(a.sampleSerial(step, 0, 1, joined.size() - 1), a.sampleSerial(step, r, world, j),
                                "a draw has one serial at any world size");
                    }
                }
                assertEquals(java.util.Arrays.stream(whole).boxed().toList(), joined, "world " + world + ", step " + step);
            }
            for (int j = 0; j < whole.length; j++) assertTrue(serials.add(a.sampleSerial(step, 0, 1, j)), "serials are unique");
        }
        assertTrue(differs, "another seed gives other batches");
    }
}
