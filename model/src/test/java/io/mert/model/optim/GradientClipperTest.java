package io.mert.model.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

class GradientClipperTest {

    /** Not a multiple of the block size, so the tail block is exercised. */
    private static final int N = 3 * GradientClipper.BLOCK + 12_345;

    private static float[] randomGrads(long seed, double scale) {
        Random r = new Random(seed);
        float[] g = new float[N];
        for (int i = 0; i < N; i++) g[i] = (float) (r.nextGaussian() * scale);
        return g;
    }

    private static double naiveNorm(float[] g, int from, int to) {
        double s = 0;
        for (int i = from; i < to; i++) s += (double) g[i] * g[i];
        return Math.sqrt(s);
    }

    @Test
    void normMatchesNaiveDoubleSum() {
        float[] g = randomGrads(1, 0.01);
        double expected = naiveNorm(g, 0, N);
        assertEquals(expected, GradientClipper.l2Norm(Nd4j.createFromArray(g)), expected * 1e-12);
    }

    @Test
    void clipsAboveMaxNormAndReturnsPreClipNorm() {
        float[] g = randomGrads(2, 1.0);
        double before = naiveNorm(g, 0, N);
        INDArray grads = Nd4j.createFromArray(g.clone());
        double maxNorm = before / 4;
        double returned = new GradientClipper(maxNorm).clip(grads);
        assertEquals(before, returned, before * 1e-12);
        float[] clipped = grads.toFloatVector();
        double coef = maxNorm / (before + 1e-6);
        for (int i = 0; i < N; i++) assertEquals(g[i] * coef, clipped[i], Math.ulp(g[i]) * 2, "grad " + i);
        assertEquals(maxNorm, naiveNorm(clipped, 0, N), maxNorm * 1e-5);
        assertEquals(coef, new GradientClipper(maxNorm).coefficient(before), 0, "the factor clip applied");
    }

    @Test
    void theCoefficientIsOneWhenNothingIsClipped() {
        assertEquals(1, new GradientClipper(2).coefficient(1.5));
        assertEquals(1, new GradientClipper(0).coefficient(1e9), "clipping off");
        assertEquals(1, new GradientClipper(1).coefficient(Double.POSITIVE_INFINITY), "not finite: the caller skips the update");
        assertEquals(1, new GradientClipper(1).coefficient(Double.NaN));
        assertEquals(0.5 / (2 + 1e-6), new GradientClipper(0.5).coefficient(2), 0);
    }

    @Test
    void leavesGradientsAloneBelowMaxNormOrWhenDisabled() {
        float[] g = randomGrads(3, 1e-3);
        double norm = naiveNorm(g, 0, N);
        INDArray grads = Nd4j.createFromArray(g.clone());
        assertEquals(norm, new GradientClipper(norm * 2).clip(grads), norm * 1e-12);
        assertArrayEquals(g, grads.toFloatVector());
        assertEquals(norm, new GradientClipper(0).clip(grads), norm * 1e-12);
        assertArrayEquals(g, grads.toFloatVector());
    }

    @Test
    void worksOnAViewWithAnOffset() {
        float[] g = randomGrads(4, 1.0);
        INDArray all = Nd4j.createFromArray(g.clone());
        INDArray view = all.get(NDArrayIndex.interval(1000, 50_000));
        double expected = naiveNorm(g, 1000, 50_000);
        assertEquals(expected, new GradientClipper(expected / 2).clip(view), expected * 1e-12);
        float[] after = all.toFloatVector();
        assertEquals(g[999], after[999], 0f, "before the view is untouched");
        assertEquals(g[50_000], after[50_000], 0f, "after the view is untouched");
        assertTrue(Math.abs(after[1000]) < Math.abs(g[1000]) || g[1000] == 0, "inside the view is scaled");
    }

    @Test
    void nonFiniteNormLeavesGradientsForTheCallerToSkip() {
        float[] g = randomGrads(5, 1.0);
        g[17] = Float.NaN;
        INDArray grads = Nd4j.createFromArray(g.clone());
        assertTrue(Double.isNaN(new GradientClipper(1.0).clip(grads)));
        assertArrayEquals(g, grads.toFloatVector());
    }
}
