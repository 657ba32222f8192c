package io.mert.data;

import java.util.SplittableRandom;

/**
 * Seeded mini-batch k-means with scikit-learn's {@code MiniBatchKMeans} update rule, as HuBERT's
 * {@code simple_kmeans/learn_kmeans.py} fits its teacher ({@code tol=0}, {@code reassignment_ratio=0},
 * {@code init_size=None}, {@code compute_labels=False}).
 *
 * <p>Initialisation: {@code nInit} greedy k-means++ seedings, each on its own random sample of
 * {@code initSize} points (default {@code 3 * batchSize}, at least {@code 3k}, at most n); the seeding with the
 * lowest inertia on one further random validation sample of the same size is kept. Then
 * {@code maxIter * n / batchSize} steps, each on {@code batchSize} points drawn uniformly with replacement:
 * points are assigned to the current centres, and every centre that got points moves to the running
 * mean of all points it has ever been given, {@code c = (c * count + sum) / (count + batchCount)}.
 * Training stops early when the exponentially smoothed mean batch inertia (weight
 * {@code 2 * batchSize / (n + 1)}) has not improved for {@code maxNoImprovement} steps. Centres that never
 * get a point stay where they were seeded (sklearn with {@code reassignment_ratio=0} does the same).
 *
 * <p>Single-threaded and driven by one {@link SplittableRandom}: the same seed gives the same centroids.
 */
public final class MiniBatchKMeans {
    private MiniBatchKMeans() {}

    /**
     * @param k                clusters
     * @param batchSize        points per step (HuBERT: 10000)
     * @param maxIter          passes over the data: {@code maxIter * n / batchSize} steps at most
     * @param maxNoImprovement steps without improvement of the smoothed batch inertia before stopping (HuBERT: 100)
     * @param nInit            k-means++ seedings, best on the validation sample kept (HuBERT: 20)
     * @param initSize         points per seeding sample; 0 for sklearn's default {@code 3 * batchSize}
     * @param seed             seed of every random draw
     */
    public record Options(int k, int batchSize, int maxIter, int maxNoImprovement, int nInit, int initSize, long seed) {
        public Options {
            if (k <= 0) throw new IllegalArgumentException("k must be positive, got " + k);
            if (batchSize <= 0) throw new IllegalArgumentException("batch size must be positive, got " + batchSize);
            if (maxIter <= 0) throw new IllegalArgumentException("maxIter must be positive, got " + maxIter);
            if (maxNoImprovement <= 0) throw new IllegalArgumentException("maxNoImprovement must be positive, got " + maxNoImprovement);
            if (nInit <= 0) throw new IllegalArgumentException("nInit must be positive, got " + nInit);
            if (initSize < 0) throw new IllegalArgumentException("initSize must be 0 (default) or positive, got " + initSize);
        }

        /** HuBERT's learn_kmeans.py settings: batch 10000, max_no_improvement 100, n_init 20, init_size default. */
        public static Options hubert(int k, int maxIter, long seed) {
            return new Options(k, 10_000, maxIter, 100, 20, 0, seed);
        }
    }

    /**
     * Fits on {@code data} ({@code [n * dim]} row-major). The returned model's inertia is over all of
     * {@code data}; its iteration count is the number of mini-batch steps taken.
     */
    public static KMeans.Model fit(float[] data, int dim, Options o) {
        if (dim <= 0 || data.length % dim != 0)
            throw new IllegalArgumentException("data length " + data.length + " is not a multiple of dim " + dim);
        int n = data.length / dim, k = o.k();
        if (k > n) throw new IllegalArgumentException("k must be in [1, " + n + "] (number of points), got " + k);
        SplittableRandom rnd = new SplittableRandom(o.seed());
        int initSize = o.initSize() > 0 ? o.initSize() : 3 * o.batchSize();
        if (initSize < k) initSize = 3 * k;
        initSize = Math.min(initSize, n);

        float[] validation = sample(data, dim, n, initSize, rnd);
        float[] centres = null;
        double bestInertia = Double.POSITIVE_INFINITY;
        for (int r = 0; r < o.nInit(); r++) {
            float[] c = greedyPlusPlus(sample(data, dim, n, initSize, rnd), dim, k, rnd);
            double inertia = inertia(validation, dim, c, k);
            if (inertia < bestInertia) { bestInertia = inertia; centres = c; }
        }

        double[] c = new double[k * dim];
        for (int i = 0; i < c.length; i++) c[i] = centres[i];
        double[] counts = new double[k];
        double[] sums = new double[k * dim];
        int[] batchCounts = new int[k];
        long steps = (long) o.maxIter() * n / o.batchSize();
        double alpha = Math.min(1.0, o.batchSize() * 2.0 / (n + 1));
        double ewa = Double.NaN, ewaMin = Double.NaN;
        int noImprovement = 0;
        long step = 0;
        while (step < steps) {
            java.util.Arrays.fill(sums, 0);
            java.util.Arrays.fill(batchCounts, 0);
            double batchInertia = 0;
            for (int b = 0; b < o.batchSize(); b++) {
                int row = rnd.nextInt(n);
                int best = 0;
                double bestD = Double.POSITIVE_INFINITY;
                for (int j = 0; j < k; j++) {
                    double d = dist2(data, row * dim, c, j * dim, dim);
                    if (d < bestD) { bestD = d; best = j; }
                }
                batchInertia += bestD;
                batchCounts[best]++;
                for (int d = 0; d < dim; d++) sums[best * dim + d] += data[row * dim + d];
            }
            for (int j = 0; j < k; j++) {
                if (batchCounts[j] == 0) continue;
                double total = counts[j] + batchCounts[j];
                for (int d = 0; d < dim; d++)
                    c[j * dim + d] = (c[j * dim + d] * counts[j] + sums[j * dim + d]) / total;
                counts[j] = total;
            }
            step++;
            // sklearn's convergence check: skip the first step (its inertia is the seeding's), smooth the rest.
            if (step == 1) continue;
            double mean = batchInertia / o.batchSize();
            ewa = Double.isNaN(ewa) ? mean : ewa * (1 - alpha) + mean * alpha;
            if (Double.isNaN(ewaMin) || ewa < ewaMin) {
                ewaMin = ewa;
                noImprovement = 0;
            } else if (++noImprovement >= o.maxNoImprovement()) {
                break;
            }
        }
        float[] out = new float[k * dim];
        for (int i = 0; i < out.length; i++) out[i] = (float) c[i];
        return new KMeans.Model(k, dim, out, inertia(data, dim, out, k), Math.toIntExact(step));
    }

    /** {@code size} rows drawn uniformly with replacement (sklearn's {@code randint(0, n, size)}). */
    private static float[] sample(float[] data, int dim, int n, int size, SplittableRandom rnd) {
        float[] s = new float[size * dim];
        for (int i = 0; i < size; i++) System.arraycopy(data, rnd.nextInt(n) * dim, s, i * dim, dim);
        return s;
    }

    /**
     * scikit-learn's greedy k-means++: each next centre is the best, by resulting potential, of
     * {@code 2 + ln k} candidates drawn with probability proportional to D(x)^2.
     */
    static float[] greedyPlusPlus(float[] x, int dim, int k, SplittableRandom rnd) {
        int n = x.length / dim;
        int trials = 2 + (int) Math.log(k);
        float[] c = new float[k * dim];
        System.arraycopy(x, rnd.nextInt(n) * dim, c, 0, dim);
        double[] closest = new double[n];
        double potential = 0;
        for (int i = 0; i < n; i++) potential += closest[i] = KMeans.dist2(x, i, c, 0, dim);
        double[] candidateD = new double[n], bestD = new double[n];
        for (int j = 1; j < k; j++) {
            int bestCandidate = -1;
            double bestPotential = Double.POSITIVE_INFINITY;
            for (int t = 0; t < trials; t++) {
                int cand = drawProportional(closest, potential, rnd);
                double pot = 0;
                for (int i = 0; i < n; i++) {
                    double d = Math.min(closest[i], dist2Rows(x, i, cand, dim));
                    candidateD[i] = d;
                    pot += d;
                }
                if (pot < bestPotential) {
                    bestPotential = pot;
                    bestCandidate = cand;
                    System.arraycopy(candidateD, 0, bestD, 0, n);
                }
            }
            System.arraycopy(x, bestCandidate * dim, c, j * dim, dim);
            System.arraycopy(bestD, 0, closest, 0, n);
            potential = bestPotential;
        }
        return c;
    }

    private static int drawProportional(double[] weights, double total, SplittableRandom rnd) {
        if (total <= 0) return rnd.nextInt(weights.length); // every point already sits on a centre
        double u = rnd.nextDouble() * total;
        for (int i = 0; i < weights.length; i++) {
            u -= weights[i];
            if (u < 0) return i;
        }
        return weights.length - 1;
    }

    private static double inertia(float[] x, int dim, float[] c, int k) {
        double s = 0;
        for (int i = 0; i < x.length / dim; i++) s += KMeans.dist2(x, i, c, KMeans.nearest(x, i, c, k, dim), dim);
        return s;
    }

    private static double dist2Rows(float[] x, int a, int b, int dim) {
        double s = 0;
        for (int d = 0; d < dim; d++) {
            double v = x[a * dim + d] - x[b * dim + d];
            s += v * v;
        }
        return s;
    }

    private static double dist2(float[] x, int off, double[] c, int cOff, int dim) {
        double s = 0;
        for (int d = 0; d < dim; d++) {
            double v = x[off + d] - c[cOff + d];
            s += v * v;
        }
        return s;
    }
}
