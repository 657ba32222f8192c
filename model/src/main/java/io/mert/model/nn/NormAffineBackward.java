package io.mert.model.nn;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.List;

/**
 * The backward pass of {@link NormAffine} from its input, gain and output gradient: with {@code h = (x - mean) r} and
 * {@code dh = dy gain}, per normalised vector {@code dx = r (dh - mean(dh) - h mean(dh h))}; {@code dgain = sum(dy h)}
 * and {@code dbias = sum(dy)} over everything a gain value touched. The statistics are recomputed rather than kept
 * from the forward pass (one more read of x, no arrays held across the step). Sums accumulate in double; each gain
 * value's sum runs in a fixed order, whatever the thread count.
 */
public final class NormAffineBackward extends JavaKernelOp { // public, as its constructor: SameDiff instantiates it reflectively

    static final String NAME = "mert_norm_affine_bp";

    static {
        register(new NormAffineBackward());
    }

    public NormAffineBackward() {
    }

    private NormAffineBackward(SameDiff sd, SDVariable x, SDVariable gain, SDVariable dy, NormAffine.Layout layout) {
        super(sd, new SDVariable[] {x, gain, dy}, layout.args());
    }

    /** The gradients of x, gain and bias. */
    static List<SDVariable> of(SameDiff sd, SDVariable x, SDVariable gain, SDVariable dy, NormAffine.Layout layout) {
        return Arrays.asList(new NormAffineBackward(sd, x, gain, dy, layout).outputVariables());
    }

    @Override
    public String opName() {
        return NAME;
    }

    @Override
    public int getNumOutputs() {
        return 3;
    }

    @Override
    long[][] outputShapes(INDArray[] inputs) {
        if (!Arrays.equals(inputs[0].shape(), inputs[2].shape())) {
            throw new IllegalArgumentException(NAME + ": gradient shape " + Arrays.toString(inputs[2].shape()) + " is not the input's "
                    + Arrays.toString(inputs[0].shape()));
        }
        return new long[][] {inputs[0].shape(), inputs[1].shape(), inputs[1].shape()};
    }

    @Override
    void compute(INDArray[] inputs, INDArray[] outputs) {
        NormAffine.Layout l = NormAffine.Layout.from(iArgs());
        NormAffine.Groups g = NormAffine.Groups.of(inputs[0], l);
        FloatBuffer x = KernelMemory.floats(inputs[0]), gain = KernelMemory.floats(inputs[1]), dy = KernelMemory.floats(inputs[2]);
        FloatBuffer dx = KernelMemory.floats(outputs[0]), dGain = KernelMemory.floats(outputs[1]), dBias = KernelMemory.floats(outputs[2]);
        int n = g.n(), step = g.step(), groups = g.count();
        float[] means = new float[groups], rstds = new float[groups];
        double[] groupDyH = g.gainAlongGroup() ? null : new double[groups], groupDy = g.gainAlongGroup() ? null : new double[groups];
        KernelMemory.parallelFor(groups, k -> {
            int start = g.start(k);
            if (step == 1) {
                double[] sums = backwardContiguous(x, gain, dy, dx, g, k, start, n, l.eps(), means, rstds);
                if (!g.gainAlongGroup()) {
                    groupDyH[k] = sums[0];
                    groupDy[k] = sums[1];
                }
                return;
            }
            double mean = NormAffine.mean(x, start, n, step);
            float r = NormAffine.rstd(x, start, n, step, mean, l.eps());
            float m = (float) mean;
            means[k] = m;
            rstds[k] = r;
            double sumDh = 0, sumDhH = 0, sumDy = 0, sumDyH = 0;
            boolean along = g.gainAlongGroup();
            float gk = along ? 0 : gain.get(g.gainOf(k));
            for (int i = 0, at = start; i < n; i++, at += step) {
                float h = (x.get(at) - m) * r, d = dy.get(at);
                float dh = d * (along ? gain.get(i) : gk);
                sumDh += dh;
                sumDhH += (double) dh * h;
                sumDy += d;
                sumDyH += (double) d * h;
            }
            float meanDh = (float) (sumDh / n), meanDhH = (float) (sumDhH / n);
            for (int i = 0, at = start; i < n; i++, at += step) {
                float h = (x.get(at) - m) * r;
                float dh = dy.get(at) * (along ? gain.get(i) : gk);
                dx.put(at, r * (dh - meanDh - h * meanDhH));
            }
            if (!along) {
                groupDyH[k] = sumDyH;
                groupDy[k] = sumDy;
            }
        });
        if (g.gainAlongGroup()) {
            // each gain value sums over every group: split the gain values over threads, groups in order
            KernelMemory.parallelFor(n, i -> {
                double sDyH = 0, sDy = 0;
                for (int k = 0; k < groups; k++) {
                    int at = g.start(k) + i * step;
                    float d = dy.get(at);
                    sDyH += (double) d * ((x.get(at) - means[k]) * rstds[k]);
                    sDy += d;
                }
                dGain.put(i, (float) sDyH);
                dBias.put(i, (float) sDy);
            });
        } else {
            double[] sDyH = new double[g.gains()], sDy = new double[g.gains()];
            for (int k = 0; k < groups; k++) {
                sDyH[g.gainOf(k)] += groupDyH[k];
                sDy[g.gainOf(k)] += groupDy[k];
            }
            for (int c = 0; c < sDyH.length; c++) {
                dGain.put(c, (float) sDyH[c]);
                dBias.put(c, (float) sDy[c]);
            }
        }
    }

    /**
     * One group whose values lie next to each other, on heap copies: the strided loop's arithmetic in the same order
     * (the same bits). Returns the group's sums of dy h and dy.
     */
    private static double[] backwardContiguous(FloatBuffer x, FloatBuffer gain, FloatBuffer dy, FloatBuffer dx, NormAffine.Groups g,
                                               int k, int start, int n, double eps, float[] means, float[] rstds) {
        float[] v = KernelMemory.scratch(0, n), d = KernelMemory.scratch(1, n);
        x.get(start, v, 0, n);
        dy.get(start, d, 0, n);
        double sum = 0;
        for (int i = 0; i < n; i++) sum += v[i];
        float m = (float) (sum / n);
        float r = NormAffine.rstd(v, n, m, eps);
        means[k] = m;
        rstds[k] = r;
        boolean along = g.gainAlongGroup();
        float[] gv = null;
        float gk = 0;
        if (along) {
            gv = KernelMemory.scratch(2, n);
            gain.get(0, gv, 0, n);
        } else {
            gk = gain.get(g.gainOf(k));
        }
        double sumDh = 0, sumDhH = 0, sumDy = 0, sumDyH = 0;
        for (int i = 0; i < n; i++) {
            float h = (v[i] - m) * r, di = d[i];
            float dh = di * (along ? gv[i] : gk);
            sumDh += dh;
            sumDhH += (double) dh * h;
            sumDy += di;
            sumDyH += (double) di * h;
        }
        float meanDh = (float) (sumDh / n), meanDhH = (float) (sumDhH / n);
        for (int i = 0; i < n; i++) {
            float h = (v[i] - m) * r;
            float dh = d[i] * (along ? gv[i] : gk);
            d[i] = r * (dh - meanDh - h * meanDhH);
        }
        dx.put(start, d, 0, n);
        return new double[] {sumDyH, sumDy};
    }
}
