package io.mert.data;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class MiniBatchKMeansTest {
    /** Four well separated 3-D blobs of 500 points. */
    private static float[] blobs() {
        SplittableRandom r = new SplittableRandom(7);
        float[][] centres = {{0, 0, 0}, {10, 0, 0}, {0, 10, 0}, {0, 0, 10}};
        float[] x = new float[2000 * 3];
        for (int i = 0; i < 2000; i++)
            for (int d = 0; d < 3; d++) x[i * 3 + d] = centres[i % 4][d] + (float) (r.nextDouble() - 0.5);
        return x;
    }

    @Test
    void sameSeedSameCentroids() {
        float[] x = blobs();
        MiniBatchKMeans.Options o = new MiniBatchKMeans.Options(4, 64, 50, 20, 2, 0, 42);
        KMeans.Model a = MiniBatchKMeans.fit(x, 3, o);
        KMeans.Model b = MiniBatchKMeans.fit(x, 3, o);
        assertArrayEquals(a.centroids(), b.centroids());
        assertEquals(a.iterations(), b.iterations());
        KMeans.Model c = MiniBatchKMeans.fit(x, 3, new MiniBatchKMeans.Options(4, 64, 50, 20, 2, 0, 43));
        assertFalse(java.util.Arrays.equals(a.centroids(), c.centroids()), "another seed draws other batches");
    }

    @Test
    void findsSeparatedBlobs() {
        float[] x = blobs();
        KMeans.Model m = MiniBatchKMeans.fit(x, 3, new MiniBatchKMeans.Options(4, 64, 50, 20, 2, 0, 1));
        // uniform noise in [-0.5, 0.5]^3 has mean squared norm 0.25: the right clustering's inertia is about 2000 * 0.25
        assertEquals(500, m.inertia(), 50);
        assertTrue(m.iterations() < 50L * 2000 / 64, "stops early once the smoothed inertia stops improving");
    }

    @Test
    void rejectsBadInput() {
        assertThrows(IllegalArgumentException.class, () -> MiniBatchKMeans.fit(new float[10], 3, new MiniBatchKMeans.Options(2, 4, 5, 5, 1, 0, 1)));
        assertThrows(IllegalArgumentException.class, () -> MiniBatchKMeans.fit(new float[9], 3, new MiniBatchKMeans.Options(4, 4, 5, 5, 1, 0, 1)));
        assertThrows(IllegalArgumentException.class, () -> new MiniBatchKMeans.Options(2, 0, 5, 5, 1, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> new MiniBatchKMeans.Options(2, 4, 5, 5, 0, 0, 1));
    }
}
