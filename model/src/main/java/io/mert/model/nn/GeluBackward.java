package io.mert.model.nn;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.List;

/** The backward pass of {@link Gelu}: {@code dx = dy (0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2 / 2) / sqrt(2 pi))}. */
public final class GeluBackward extends JavaKernelOp { // public, as its constructor: SameDiff instantiates it reflectively

    static final String NAME = "mert_gelu_bp";
    private static final double INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

    static {
        register(new GeluBackward());
    }

    public GeluBackward() {
    }

    private GeluBackward(SameDiff sd, SDVariable x, SDVariable dy) {
        super(sd, new SDVariable[] {x, dy});
    }

    static SDVariable of(SameDiff sd, SDVariable x, SDVariable dy) {
        return new GeluBackward(sd, x, dy).outputVariable();
    }

    @Override
    public String opName() {
        return NAME;
    }

    @Override
    long[][] outputShapes(INDArray[] inputs) {
        if (!Arrays.equals(inputs[0].shape(), inputs[1].shape())) {
            throw new IllegalArgumentException(NAME + ": gradient shape " + Arrays.toString(inputs[1].shape()) + " is not the input's "
                    + Arrays.toString(inputs[0].shape()));
        }
        return new long[][] {inputs[0].shape()};
    }

    @Override
    void compute(INDArray[] inputs, INDArray[] outputs) {
        FloatBuffer x = KernelMemory.floats(inputs[0]), dy = KernelMemory.floats(inputs[1]), dx = KernelMemory.floats(outputs[0]);
        int n = (int) inputs[0].length();
        KernelMemory.parallelFor((n + Gelu.BLOCK - 1) / Gelu.BLOCK, b -> {
            for (int i = b * Gelu.BLOCK, end = Math.min(n, i + Gelu.BLOCK); i < end; i++) {
                double v = x.get(i);
                double slope = 0.5 * (1 + Erf.erf(v * Gelu.INV_SQRT2)) + v * Math.exp(-0.5 * v * v) * INV_SQRT_2PI;
                dx.put(i, (float) (dy.get(i) * slope));
            }
        });
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> gradients) {
        throw new UnsupportedOperationException("no second derivative of " + NAME);
    }
}
