package io.mert.model.nn;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.List;

/**
 * Normalisation with a gain and a bias in one op: for a [d0, d1, d2] input, each vector along {@code axis} (1 or 2) is
 * shifted to mean 0 and scaled by {@code 1 / sqrt(biased variance + eps)}, then multiplied by {@code gain} and shifted
 * by {@code bias}, indexed either along the normalised axis (layer norm) or, with {@code axis} 2, along axis 1 (group
 * norm with a group per channel). Statistics accumulate in double.
 *
 * <p>Why: composed from SameDiff primitives a layer norm was 9 ops forward and about 20 backward, each a pass over the
 * tensor plus the session's per-op cost; a post-LN 95M step has 25 of them, and the extractor's group norm runs on its
 * largest tensor. {@link NormAffineBackward} is the backward pass.
 */
public final class NormAffine extends JavaKernelOp { // public, as its constructor: SameDiff instantiates it reflectively

    static final String NAME = "mert_norm_affine";

    static {
        register(new NormAffine());
    }

    public NormAffine() {
    }

    private NormAffine(SameDiff sd, SDVariable x, SDVariable gain, SDVariable bias, Layout layout) {
        super(sd, new SDVariable[] {x, gain, bias}, layout.axis, layout.gainAxis, Double.doubleToLongBits(layout.eps));
    }

    /** {@code x} normalised over {@code axis}, times {@code gain} plus {@code bias} (vectors along {@code gainAxis}). */
    static SDVariable of(SameDiff sd, SDVariable x, SDVariable gain, SDVariable bias, int axis, int gainAxis, double eps) {
        return new NormAffine(sd, x, gain, bias, new Layout(axis, gainAxis, eps)).outputVariable();
    }

    /** Which axis is normalised, which axis the gain and bias run along, and the epsilon. */
    record Layout(int axis, int gainAxis, double eps) {
        Layout {
            if (!((axis == 1 || axis == 2) && (gainAxis == axis || (axis == 2 && gainAxis == 1)))) {
                throw new IllegalArgumentException("normalising axis " + axis + " with a gain along axis " + gainAxis + " is not supported");
            }
            if (!(eps > 0)) throw new IllegalArgumentException("eps must be > 0, got " + eps);
        }

        static Layout from(long[] a) {
            return new Layout((int) a[0], (int) a[1], Double.longBitsToDouble(a[2]));
        }

        long[] args() {
            return new long[] {axis, gainAxis, Double.doubleToLongBits(eps)};
        }
    }

    /**
     * The vectors one statistic covers, in the memory of a dense [d0, d1, d2] array: {@code groups} of {@code n}
     * elements, element i of group k at {@code start(k) + i * step}.
     */
    record Groups(int d0, int d1, int d2, int axis, int gainAxis) {
        static Groups of(INDArray x, Layout l) {
            long[] s = x.shape();
            if (s.length != 3) throw new IllegalArgumentException(NAME + " expects a rank-3 input, got " + Arrays.toString(s));
            return new Groups((int) s[0], (int) s[1], (int) s[2], l.axis(), l.gainAxis());
        }

        int count() {
            return axis == 2 ? d0 * d1 : d0 * d2;
        }

        int n() {
            return axis == 2 ? d2 : d1;
        }

        int step() {
            return axis == 2 ? 1 : d2;
        }

        int start(int k) {
            return axis == 2 ? k * d2 : (k / d2) * d1 * d2 + k % d2;
        }

        /** The gain length. */
        int gains() {
            return gainAxis == 2 ? d2 : d1;
        }

        boolean gainAlongGroup() {
            return gainAxis == axis;
        }

        /** The gain index of a whole group, when the gain does not run along it (axis 2: group k is (k / d1, k % d1)). */
        int gainOf(int k) {
            return k % d1;
        }
    }

    @Override
    public String opName() {
        return NAME;
    }

    Layout layout() {
        return Layout.from(iArgs());
    }

    @Override
    long[][] outputShapes(INDArray[] inputs) {
        Groups g = Groups.of(inputs[0], layout());
        for (int i = 1; i <= 2; i++) {
            if (inputs[i].length() != g.gains()) {
                throw new IllegalArgumentException(NAME + ": gain and bias need " + g.gains() + " values, got " + inputs[i].length());
            }
        }
        return new long[][] {inputs[0].shape()};
    }

    @Override
    void compute(INDArray[] inputs, INDArray[] outputs) {
        Layout l = layout();
        Groups g = Groups.of(inputs[0], l);
        FloatBuffer x = KernelMemory.floats(inputs[0]), gain = KernelMemory.floats(inputs[1]), bias = KernelMemory.floats(inputs[2]);
        FloatBuffer y = KernelMemory.floats(outputs[0]);
        int n = g.n(), step = g.step();
        KernelMemory.parallelFor(g.count(), k -> {
            int start = g.start(k);
            if (step == 1) {
                normalizeContiguous(x, y, gain, bias, g, k, start, n, l.eps());
                return;
            }
            double mean = mean(x, start, n, step);
            float r = rstd(x, start, n, step, mean, l.eps());
            float m = (float) mean;
            if (g.gainAlongGroup()) {
                for (int i = 0, at = start; i < n; i++, at += step) y.put(at, (x.get(at) - m) * r * gain.get(i) + bias.get(i));
            } else {
                float gk = gain.get(g.gainOf(k)), bk = bias.get(g.gainOf(k));
                for (int i = 0, at = start; i < n; i++, at += step) y.put(at, (x.get(at) - m) * r * gk + bk);
            }
        });
    }

    /**
     * One group whose values lie next to each other (normalised along the last axis), on a heap copy: the same
     * arithmetic in the same order as the strided loops, so the same bits, at about half the time.
     */
    private static void normalizeContiguous(FloatBuffer x, FloatBuffer y, FloatBuffer gain, FloatBuffer bias, Groups g, int k,
                                            int start, int n, double eps) {
        float[] v = KernelMemory.scratch(0, n);
        x.get(start, v, 0, n);
        double sum = 0;
        for (int i = 0; i < n; i++) sum += v[i];
        float m = (float) (sum / n);
        float r = rstd(v, n, m, eps);
        if (g.gainAlongGroup()) {
            float[] gv = KernelMemory.scratch(1, 2 * n);
            gain.get(0, gv, 0, n);
            bias.get(0, gv, n, n);
            for (int i = 0; i < n; i++) v[i] = (v[i] - m) * r * gv[i] + gv[n + i];
        } else {
            float gk = gain.get(g.gainOf(k)), bk = bias.get(g.gainOf(k));
            for (int i = 0; i < n; i++) v[i] = (v[i] - m) * r * gk + bk;
        }
        y.put(start, v, 0, n);
    }

    /** {@link #rstd(FloatBuffer, int, int, int, double, double)} of the first n values of a heap copy. */
    static float rstd(float[] v, int n, float m, double eps) {
        double sq = 0;
        for (int i = 0; i < n; i++) {
            double d = v[i] - m;
            sq += d * d;
        }
        return (float) (1 / Math.sqrt(sq / n + eps));
    }

    static double mean(FloatBuffer x, int start, int n, int step) {
        double sum = 0;
        for (int i = 0, at = start; i < n; i++, at += step) sum += x.get(at);
        return sum / n;
    }

    /** 1 / sqrt(biased variance + eps), the variance from the float-rounded mean as the composed graph had it. */
    static float rstd(FloatBuffer x, int start, int n, int step, double mean, double eps) {
        float m = (float) mean;
        double sq = 0;
        for (int i = 0, at = start; i < n; i++, at += step) {
            double d = x.get(at) - m;
            sq += d * d;
        }
        return (float) (1 / Math.sqrt(sq / n + eps));
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> gradients) {
        return NormAffineBackward.of(sameDiff, arg(0), arg(1), gradients.get(0), layout());
    }
}
