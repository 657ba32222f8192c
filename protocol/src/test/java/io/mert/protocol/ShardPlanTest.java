package io.mert.protocol;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
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
}
