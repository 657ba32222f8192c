package io.mert.data;

import org.junit.jupiter.api.Test;

import java.util.Random;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class KMeansTest {
    private static float[] blobs(int perBlob, int dim, double[][] centres, long seed) {
        Random r = new Random(seed);
        float[] x = new float[perBlob * centres.length * dim];
        int row = 0;
        for (double[] c : centres)
            for (int i = 0; i < perBlob; i++, row++)
                for (int d = 0; d < dim; d++) x[row * dim + d] = (float) (c[d] + 0.5 * r.nextGaussian());
        return x;
    }

    /** Inertia of an assignment with each cluster's own mean as centre, in plain double loops. */
    private static double inertiaOf(float[] x, int dim, int[] assign, int k) {
        int n = assign.length;
        double[][] mean = new double[k][dim];
        int[] count = new int[k];
        for (int i = 0; i < n; i++) {
            count[assign[i]]++;
            for (int d = 0; d < dim; d++) mean[assign[i]][d] += x[i * dim + d];
        }
        double s = 0;
        for (int i = 0; i < n; i++)
            for (int d = 0; d < dim; d++) {
                double v = x[i * dim + d] - mean[assign[i]][d] / count[assign[i]];
                s += v * v;
            }
        return s;
    }

    @Test
    void beatsRandomAssignmentAndIsDeterministic() {
        double[][] centres = {{0, 0, 0, 0, 0}, {5, 5, 0, 0, 0}, {0, 5, 5, 5, 0}, {-5, 0, 0, 5, 5}};
        float[] x = blobs(100, 5, centres, 1);
        KMeans.Model m = KMeans.fit(x, 5, 4, 99, 100, 1);
        Random r = new Random(2);
        int[] random = new int[400];
        for (int i = 0; i < 400; i++) random[i] = r.nextInt(4);
        double randomInertia = inertiaOf(x, 5, random, 4);
        assertTrue(m.inertia() < 0.2 * randomInertia, m.inertia() + " vs random " + randomInertia);
        // well separated blobs: each found cluster is one blob
        int[] a = m.assignAll(x);
        for (int b = 0; b < 4; b++)
            for (int i = b * 100; i < (b + 1) * 100; i++) assertEquals(a[b * 100], a[i], "blob " + b + " split");
        assertEquals(m.inertia(), inertiaOf(x, 5, a, 4), 1e-6 * m.inertia());

        KMeans.Model again = KMeans.fit(x, 5, 4, 99, 100, 1);
        assertArrayEquals(m.centroids(), again.centroids());
        assertEquals(m.inertia(), again.inertia());
    }

    @Test
    void lloydMatchesANaiveImplementationFromTheSameSeeding() {
        float[] x = blobs(30, 2, new double[][] {{0, 0}, {2, 1}, {1, 3}}, 3);
        int n = 90, k = 3;
        float[] init = KMeans.plusPlus(x, 2, k, new SplittableRandom(11));
        KMeans.Model m = KMeans.lloyd(x, 2, init, 100);

        double[][] c = new double[k][2];
        for (int j = 0; j < k; j++) { c[j][0] = init[2 * j]; c[j][1] = init[2 * j + 1]; }
        int[] assign = new int[n];
        for (int iter = 0; iter < 100; iter++) {
            boolean changed = false;
            for (int i = 0; i < n; i++) {
                int best = 0;
                for (int j = 1; j < k; j++)
                    if (Math.hypot(x[2 * i] - c[j][0], x[2 * i + 1] - c[j][1]) < Math.hypot(x[2 * i] - c[best][0], x[2 * i + 1] - c[best][1]))
                        best = j;
                changed |= iter == 0 || best != assign[i];
                assign[i] = best;
            }
            if (!changed) break;
            for (int j = 0; j < k; j++) {
                double sx = 0, sy = 0;
                int cnt = 0;
                for (int i = 0; i < n; i++) if (assign[i] == j) { sx += x[2 * i]; sy += x[2 * i + 1]; cnt++; }
                assertTrue(cnt > 0);
                c[j][0] = sx / cnt;
                c[j][1] = sy / cnt;
            }
        }
        for (int j = 0; j < k; j++) {
            assertEquals(c[j][0], m.centroids()[2 * j], 1e-5);
            assertEquals(c[j][1], m.centroids()[2 * j + 1], 1e-5);
        }
        assertEquals(inertiaOf(x, 2, assign, k), m.inertia(), 1e-6);
    }

    @Test
    void reachesTheBruteForceOptimumOnATinyProblem() {
        float[] x = {0, 0, 0.3f, 0.1f, 0.1f, 0.4f, 3, 3, 3.2f, 2.7f, 2.6f, 3.1f, 0, 4, 0.5f, 4.2f, -0.2f, 3.5f};
        int n = 9, k = 3;
        double best = Double.POSITIVE_INFINITY;
        int[] a = new int[n];
        for (int code = 0; code < 19683; code++) {
            int v = code;
            boolean[] used = new boolean[k];
            for (int i = 0; i < n; i++) { a[i] = v % 3; v /= 3; used[a[i]] = true; }
            if (!used[0] || !used[1] || !used[2]) continue;
            best = Math.min(best, inertiaOf(x, 2, a, k));
        }
        KMeans.Model m = KMeans.fit(x, 2, k, 5, 100, 10);
        assertEquals(best, m.inertia(), 1e-5);
        for (long s = 0; s < 20; s++) assertTrue(KMeans.fit(x, 2, k, s, 100, 1).inertia() >= best - 1e-5);
    }

    @Test
    void rejectsBadArguments() {
        assertThrows(IllegalArgumentException.class, () -> KMeans.fit(new float[10], 3, 2, 0, 10, 1));
        assertThrows(IllegalArgumentException.class, () -> KMeans.fit(new float[6], 2, 4, 0, 10, 1));
    }
}
