package io.mert.model.nn;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SpanMaskingTest {

    /**
     * Exact expected masked fraction of fairseq's scheme: numMask = floor(a) or floor(a)+1 with
     * probability frac(a), a = p*T/L; starts uniform without replacement over N = T-L positions, so
     * frame t stays unmasked iff none of the c_t starts covering it is drawn: C(N-c_t, n)/C(N, n).
     */
    static double expectedFraction(int frames, double p, int len) {
        double a = p * frames / len;
        int lo = (int) Math.floor(a);
        double frac = a - lo;
        double e = 0;
        for (int n : new int[] {lo, lo + 1}) {
            double w = n == lo ? 1 - frac : frac;
            int numMask = Math.max(2, n);
            int positions = frames - len;
            double covered = 0;
            for (int t = 0; t < frames; t++) {
                int cover = Math.min(t, positions - 1) - Math.max(0, t - len + 1) + 1;
                cover = Math.max(cover, 0);
                double pFree = 1;
                for (int i = 0; i < numMask; i++) pFree *= (double) (positions - cover - i) / (positions - i);
                covered += 1 - Math.max(pFree, 0);
            }
            e += w * covered / frames;
        }
        return e;
    }

    @Test
    void maskedFractionMatchesFairseqExpectation() {
        int frames = 375;
        double sum = 0;
        int runs = 2000;
        for (int r = 0; r < runs; r++) {
            byte[] m = SpanMasking.compute(frames, 0.8, 5, r);
            for (byte b : m) sum += b;
        }
        double observed = sum / runs / frames;
        double expected = expectedFraction(frames, 0.8, 5);
        System.out.printf("masked fraction observed %.4f expected %.4f%n", observed, expected);
        assertEquals(expected, observed, 0.005); // std error of the mean is about 0.0005
        assertTrue(expected > 0.5 && expected < 0.8, "overlapping spans mask less than mask_prob");
    }

    @Test
    void spansHaveMaskLengthAndRespectMinimumAndDeterminism() {
        for (long seed = 0; seed < 200; seed++) {
            byte[] m = SpanMasking.compute(40, 0.3, 5, seed);
            assertArrayEquals(m, SpanMasking.compute(40, 0.3, 5, seed));
            int run = 0, total = 0;
            for (int t = 0; t <= m.length; t++) {
                if (t < m.length && m[t] == 1) {
                    run++;
                    total++;
                } else {
                    // overlapping spans merge, so every run is at least one span long
                    assertTrue(run == 0 || run >= 5, "run of " + run + " masked frames, seed " + seed);
                    run = 0;
                }
            }
            assertTrue(total >= 5, "min_masks 2 gives at least one full span");
            assertEquals(0, m[m.length - 1], "starts are drawn below T - L, so the last frame is never masked");
        }
        assertFalse(java.util.Arrays.equals(SpanMasking.compute(40, 0.5, 5, 1), SpanMasking.compute(40, 0.5, 5, 2)));
        // tiny clips: the minimum of two spans still fits
        byte[] tiny = SpanMasking.compute(9, 0.0, 5, 3);
        int n = 0;
        for (byte b : tiny) n += b;
        assertTrue(n >= 5);
    }

    @Test
    void batchMasksHaveEqualCounts() {
        byte[] m = SpanMasking.computeBatch(6, 100, 0.8, 5, 42);
        int first = -1;
        for (int b = 0; b < 6; b++) {
            int n = 0;
            for (int t = 0; t < 100; t++) n += m[b * 100 + t];
            if (first < 0) first = n;
            assertEquals(first, n, "clip " + b);
        }
        assertTrue(first > 30);
        assertArrayEquals(m, SpanMasking.computeBatch(6, 100, 0.8, 5, 42));
    }
}
