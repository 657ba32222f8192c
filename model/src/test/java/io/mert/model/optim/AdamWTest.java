package io.mert.model.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class AdamWTest {

    private static final int N = 10_007;
    private static final int STEPS = 10;

    /** fairseq's Adam formula, written out in double precision one element at a time. */
    private static final class ReferenceAdam {
        final double b1, b2, eps, wd;
        final double[] m, v;
        int t;

        ReferenceAdam(int n, AdamW.Config c) {
            b1 = c.beta1();
            b2 = c.beta2();
            eps = c.eps();
            wd = c.weightDecay();
            m = new double[n];
            v = new double[n];
        }

        void step(double[] p, double[] g, double lr) {
            t++;
            double stepSize = lr * Math.sqrt(1 - Math.pow(b2, t)) / (1 - Math.pow(b1, t));
            for (int i = 0; i < p.length; i++) {
                m[i] = b1 * m[i] + (1 - b1) * g[i];
                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
                double denom = Math.sqrt(v[i]) + eps;
                p[i] = p[i] - wd * lr * p[i];
                p[i] = p[i] - stepSize * m[i] / denom;
            }
        }
    }

    /** Gradients spanning several magnitudes so eps, both moments and bias correction all matter. */
    private static float[] gradients(Random r) {
        float[] g = new float[N];
        for (int i = 0; i < N; i++) g[i] = (float) (r.nextGaussian() * gradScale(i));
        return g;
    }

    private static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }

    /** Typical gradient magnitude of element i (see {@link #gradients}). */
    private static double gradScale(int i) {
        return Math.pow(10, -1 - (i % 6));
    }

    private static void assertClose(double[] expected, INDArray actual, double rel, java.util.function.IntToDoubleFunction floor,
                                    String what) {
        float[] a = actual.toFloatVector();
        for (int i = 0; i < expected.length; i++) {
            double tol = rel * Math.max(Math.abs(expected[i]), floor.applyAsDouble(i));
            assertEquals(expected[i], a[i], tol, what + "[" + i + "]");
        }
    }

    @Test
    void tenStepsMatchFairseqFormulaInDouble() {
        // Large weight decay and lr so that decay, moments and bias correction move the result far
        // beyond the tolerance: a wrong term cannot hide.
        AdamW.Config config = new AdamW.Config(0.9, 0.98, 1e-6, 0.5);
        Random r = new Random(42);
        float[] p0 = new float[N];
        for (int i = 0; i < N; i++) p0[i] = (float) (r.nextGaussian() * 0.5);

        AdamW adam = new AdamW(N, config);
        INDArray params = Nd4j.createFromArray(p0.clone());
        ReferenceAdam ref = new ReferenceAdam(N, config);
        double[] refParams = toDouble(p0);

        double[] lrs = {0.0, 1e-3, 2e-3, 5e-3, 1e-2, 1e-2, 8e-3, 6e-3, 4e-3, 2e-3};
        for (int s = 0; s < STEPS; s++) {
            float[] g = gradients(r);
            INDArray grads = Nd4j.createFromArray(g.clone());
            adam.step(params, grads, lrs[s]);
            ref.step(refParams, toDouble(g), lrs[s]);
            assertArrayEquals(g, grads.toFloatVector(), "step must not modify the gradients");
        }
        assertEquals(STEPS, adam.stepCount());
        // Relative 1e-5, with floors where values can cancel towards zero: parameters are O(0.5);
        // exp_avg sums gradients of both signs, so it is judged against its element's gradient scale.
        assertClose(refParams, params, 1e-5, i -> 1e-2, "params");
        assertClose(ref.m, adam.expAvg(), 1e-5, i -> gradScale(i), "exp_avg");
        assertClose(ref.v, adam.expAvgSq(), 1e-5, i -> 0, "exp_avg_sq");

        // The updates really moved the parameters (the comparison above is not vacuous).
        double moved = 0;
        float[] p = params.toFloatVector();
        for (int i = 0; i < N; i++) moved = Math.max(moved, Math.abs(p[i] - p0[i]) / Math.max(Math.abs(p0[i]), 1e-2));
        assertTrue(moved > 1e-2, "parameters barely moved: " + moved);
    }

    @Test
    void aGradientScaleIsTheSameAsScaledGradientsAndLeavesThemUnchanged() {
        int n = 70_001;
        Random r = new Random(11);
        float[] p0 = new float[n];
        for (int i = 0; i < n; i++) p0[i] = (float) r.nextGaussian();
        AdamW folded = new AdamW(n, AdamW.Config.mert(), 2);
        AdamW prescaled = new AdamW(n, AdamW.Config.mert(), 1);
        INDArray pFolded = Nd4j.createFromArray(p0.clone()), pPrescaled = Nd4j.createFromArray(p0.clone());
        for (float scale : new float[] {3.0517578e-5f, 0.37f, 1f}) {
            float[] g = new float[n], scaled = new float[n];
            for (int i = 0; i < n; i++) {
                g[i] = (float) (r.nextGaussian() * 1e4 * gradScale(i));
                scaled[i] = g[i] * scale;
            }
            INDArray grads = Nd4j.createFromArray(g.clone());
            folded.step(pFolded, grads, 1e-3, scale);
            prescaled.step(pPrescaled, Nd4j.createFromArray(scaled), 1e-3);
            assertArrayEquals(g, grads.toFloatVector(), "the gradients are only read");
        }
        assertArrayEquals(pPrescaled.toFloatVector(), pFolded.toFloatVector(), "parameters");
        assertArrayEquals(prescaled.expAvgSq().toFloatVector(), folded.expAvgSq().toFloatVector(), "exp_avg_sq");
        assertThrows(IllegalArgumentException.class, () -> folded.step(pFolded, Nd4j.createFromArray(new float[n]), 1e-3, Float.NaN));
    }

    @Test
    void threadCountDoesNotChangeABit() {
        // large enough for three lanes, and not a multiple of the block size or the lane count
        int n = 3 * (1 << 18) + 12_345;
        Random r = new Random(7);
        float[] p0 = new float[n];
        for (int i = 0; i < n; i++) p0[i] = (float) r.nextGaussian();
        float[][] grads = new float[3][n];
        for (float[] g : grads) for (int i = 0; i < n; i++) g[i] = (float) (r.nextGaussian() * gradScale(i));
        INDArray one = Nd4j.createFromArray(p0.clone());
        // the parameters as a contiguous view at an offset, as a worker's gradient slice is
        INDArray backing = Nd4j.create(DataType.FLOAT, n + 5);
        INDArray three = backing.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(5, n + 5));
        three.assign(Nd4j.createFromArray(p0.clone()));
        AdamW single = new AdamW(n, AdamW.Config.mert(), 1);
        AdamW multi = new AdamW(n, AdamW.Config.mert(), 3);
        for (float[] g : grads) {
            single.step(one, Nd4j.createFromArray(g), 1e-3);
            multi.step(three, Nd4j.createFromArray(g), 1e-3);
        }
        assertArrayEquals(one.toFloatVector(), three.toFloatVector(), "parameters");
        assertArrayEquals(single.expAvg().toFloatVector(), multi.expAvg().toFloatVector(), "exp_avg");
        assertArrayEquals(single.expAvgSq().toFloatVector(), multi.expAvgSq().toFloatVector(), "exp_avg_sq");
        assertEquals(0f, backing.getFloat(0L), "memory before the view is untouched");
        assertTrue(Math.abs(one.getFloat(0L) - p0[0]) > 0, "the parameters moved");
    }

    @Test
    void restoredStateContinuesBitIdentically() {
        AdamW.Config config = AdamW.Config.mert();
        Random r = new Random(7);
        float[] p0 = new float[N];
        for (int i = 0; i < N; i++) p0[i] = (float) r.nextGaussian();
        float[][] grads = new float[6][];
        for (int s = 0; s < grads.length; s++) grads[s] = gradients(r);

        AdamW straight = new AdamW(N, config);
        INDArray pStraight = Nd4j.createFromArray(p0.clone());
        for (float[] g : grads) straight.step(pStraight, Nd4j.createFromArray(g), 1e-3);

        AdamW first = new AdamW(N, config);
        INDArray pResumed = Nd4j.createFromArray(p0.clone());
        for (int s = 0; s < 3; s++) first.step(pResumed, Nd4j.createFromArray(grads[s]), 1e-3);
        AdamW second = new AdamW(N, config);
        second.restore(first.stepCount(), first.expAvg().dup(), first.expAvgSq().dup());
        for (int s = 3; s < grads.length; s++) second.step(pResumed, Nd4j.createFromArray(grads[s]), 1e-3);

        assertEquals(straight.stepCount(), second.stepCount());
        assertArrayEquals(pStraight.toFloatVector(), pResumed.toFloatVector());
        assertArrayEquals(straight.expAvg().toFloatVector(), second.expAvg().toFloatVector());
        assertArrayEquals(straight.expAvgSq().toFloatVector(), second.expAvgSq().toFloatVector());
    }

    @Test
    void acceptsContiguousViewsAndRejectsWrongBuffers() {
        AdamW adam = new AdamW(10, AdamW.Config.mert());
        INDArray big = Nd4j.zeros(DataType.FLOAT, 30);
        INDArray paramsView = big.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(10, 20));
        adam.step(paramsView, Nd4j.ones(DataType.FLOAT, 10), 1e-2);
        // First Adam step moves every element by about -lr (m/sqrt(v) = 1 after bias correction).
        float[] all = big.toFloatVector();
        for (int i = 0; i < 30; i++) {
            if (i < 10 || i >= 20) assertEquals(0f, all[i], "outside the view");
            else assertEquals(-1e-2, all[i], 1e-7, "inside the view");
        }
        assertThrows(IllegalArgumentException.class, () -> adam.step(Nd4j.zeros(DataType.FLOAT, 11), Nd4j.zeros(DataType.FLOAT, 11), 1e-3));
        assertThrows(IllegalArgumentException.class, () -> adam.step(Nd4j.zeros(DataType.DOUBLE, 10), Nd4j.zeros(DataType.FLOAT, 10), 1e-3));
        assertThrows(IllegalArgumentException.class, () -> new AdamW.Config(1.0, 0.98, 1e-6, 0));
    }
}
