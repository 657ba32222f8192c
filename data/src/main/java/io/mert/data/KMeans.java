package io.mert.data;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Seeded k-means: k-means++ seeding, then Lloyd iterations until no assignment changes (or the
 * iteration cap). Several restarts keep the lowest inertia. Empty clusters are re-seeded with the
 * point farthest from its centroid. Distances are accumulated in double.
 */
public final class KMeans {
    private KMeans() {}

    /**
     * A fitted model.
     *
     * @param centroids  {@code [k * dim]} row-major
     * @param inertia    sum of squared distances of the training points to their centroids
     * @param iterations Lloyd iterations of the kept restart
     */
    public record Model(int k, int dim, float[] centroids, double inertia, int iterations) {
        /** Index of the nearest centroid to row {@code row} of {@code data}. */
        public int assign(float[] data, int row) {
            return nearest(data, row, centroids, k, dim);
        }

        public int[] assignAll(float[] data) {
            int n = data.length / dim;
            int[] out = new int[n];
            for (int i = 0; i < n; i++) out[i] = assign(data, i);
            return out;
        }
    }

    /**
     * @param data     {@code [n * dim]} row-major points
     * @param dim      dimensions per point
     * @param k        clusters (at most the number of points)
     * @param seed     seed of the seeding
     * @param maxIter  cap on Lloyd iterations per restart
     * @param restarts independent k-means++ seedings, best inertia kept
     */
    public static Model fit(float[] data, int dim, int k, long seed, int maxIter, int restarts) {
        if (dim <= 0 || data.length % dim != 0)
            throw new IllegalArgumentException("data length " + data.length + " is not a multiple of dim " + dim);
        int n = data.length / dim;
        if (k <= 0 || k > n) throw new IllegalArgumentException("k must be in [1, " + n + "] (number of points), got " + k);
        if (restarts <= 0 || maxIter <= 0) throw new IllegalArgumentException("restarts and maxIter must be positive");
        SplittableRandom rnd = new SplittableRandom(seed);
        Model best = null;
        for (int r = 0; r < restarts; r++) {
            Model m = lloyd(data, dim, plusPlus(data, dim, k, rnd.split()), maxIter);
            if (best == null || m.inertia() < best.inertia()) best = m;
        }
        return best;
    }

    /**
     * Lloyd iterations from given centroids, no seeding and no restarts: the same algorithm as
     * scikit-learn's {@code KMeans(init=centroids, n_init=1, algorithm="lloyd", tol=0)} (it stops when no
     * assignment changes; the iteration count includes that last, confirming pass).
     *
     * @param initialCentroids {@code [k * dim]} row-major; not modified
     */
    public static Model fitFrom(float[] data, int dim, float[] initialCentroids, int maxIter) {
        if (dim <= 0 || data.length % dim != 0)
            throw new IllegalArgumentException("data length " + data.length + " is not a multiple of dim " + dim);
        if (initialCentroids.length == 0 || initialCentroids.length % dim != 0)
            throw new IllegalArgumentException("initial centroids length " + initialCentroids.length
                    + " is not a positive multiple of dim " + dim);
        int k = initialCentroids.length / dim, n = data.length / dim;
        if (k > n) throw new IllegalArgumentException(k + " initial centroids for only " + n + " points");
        if (maxIter <= 0) throw new IllegalArgumentException("maxIter must be positive, got " + maxIter);
        return lloyd(data, dim, initialCentroids, maxIter);
    }

    /** k-means++ seeding: first centre uniform, each next one drawn with probability proportional to D(x)^2. */
    static float[] plusPlus(float[] data, int dim, int k, SplittableRandom rnd) {
        int n = data.length / dim;
        float[] c = new float[k * dim];
        int first = rnd.nextInt(n);
        System.arraycopy(data, first * dim, c, 0, dim);
        double[] d2 = new double[n];
        for (int i = 0; i < n; i++) d2[i] = dist2(data, i, c, 0, dim);
        for (int j = 1; j < k; j++) {
            double total = 0;
            for (double v : d2) total += v;
            int pick;
            if (total <= 0) {
                pick = rnd.nextInt(n); // all points coincide with centres already chosen
            } else {
                double u = rnd.nextDouble() * total;
                pick = n - 1;
                for (int i = 0; i < n; i++) {
                    u -= d2[i];
                    if (u < 0) { pick = i; break; }
                }
            }
            System.arraycopy(data, pick * dim, c, j * dim, dim);
            for (int i = 0; i < n; i++) d2[i] = Math.min(d2[i], dist2(data, i, c, j, dim));
        }
        return c;
    }

    /** Lloyd iterations from the given centroids. */
    static Model lloyd(float[] data, int dim, float[] init, int maxIter) {
        int n = data.length / dim;
        int k = init.length / dim;
        float[] c = init.clone();
        int[] assign = new int[n];
        Arrays.fill(assign, -1);
        double[] sums = new double[k * dim];
        int[] counts = new int[k];
        int it = 0;
        boolean changed = true;
        while (changed && it < maxIter) {
            it++;
            changed = false;
            for (int i = 0; i < n; i++) {
                int a = nearest(data, i, c, k, dim);
                if (a != assign[i]) { assign[i] = a; changed = true; }
            }
            if (!changed) break;
            Arrays.fill(sums, 0);
            Arrays.fill(counts, 0);
            for (int i = 0; i < n; i++) {
                int a = assign[i];
                counts[a]++;
                for (int d = 0; d < dim; d++) sums[a * dim + d] += data[i * dim + d];
            }
            for (int j = 0; j < k; j++) {
                if (counts[j] == 0) {
                    int far = farthest(data, dim, c, assign);
                    System.arraycopy(data, far * dim, c, j * dim, dim);
                    assign[far] = j;
                    continue;
                }
                for (int d = 0; d < dim; d++) c[j * dim + d] = (float) (sums[j * dim + d] / counts[j]);
            }
        }
        double inertia = 0;
        for (int i = 0; i < n; i++) inertia += dist2(data, i, c, nearest(data, i, c, k, dim), dim);
        return new Model(k, dim, c, inertia, it);
    }

    private static int farthest(float[] data, int dim, float[] c, int[] assign) {
        int best = 0;
        double bestD = -1;
        for (int i = 0; i < assign.length; i++) {
            double d = dist2(data, i, c, assign[i], dim);
            if (d > bestD) { bestD = d; best = i; }
        }
        return best;
    }

    static int nearest(float[] data, int row, float[] c, int k, int dim) {
        int best = 0;
        double bestD = Double.POSITIVE_INFINITY;
        for (int j = 0; j < k; j++) {
            double d = dist2(data, row, c, j, dim);
            if (d < bestD) { bestD = d; best = j; }
        }
        return best;
    }

    static double dist2(float[] data, int row, float[] c, int centre, int dim) {
        double s = 0;
        int a = row * dim, b = centre * dim;
        for (int d = 0; d < dim; d++) {
            double v = data[a + d] - c[b + d];
            s += v * v;
        }
        return s;
    }
}
