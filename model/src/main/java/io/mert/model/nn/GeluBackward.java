package io.mert.model.nn;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.FloatBuffer;
import java.util.Arrays;

/** The backward pass of {@link Gelu}: {@code dx = dy (0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2 / 2) / sqrt(2 pi))}. */
public final class GeluBackward extends JavaKernelOp { // public, as its constructor: SameDiff instantiates it reflectively

    static final String NAME = "mert_gelu_bp";

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
            int from = b * Gelu.BLOCK, len = Math.min(Gelu.BLOCK, n - from);
            float[] v = KernelMemory.scratch(0, Gelu.BLOCK), d = KernelMemory.scratch(1, Gelu.BLOCK);
            x.get(from, v, 0, len);
            dy.get(from, d, 0, len);
            backward(v, d, len);
            dx.put(from, d, 0, len);
        });
    }

    /** d[i] = d[i] GELU'(v[i]) for i < len. */
    static void backward(float[] v, float[] d, int len) {
        for (int i = Gelu.VECTOR ? GeluVector.backward(v, d, len) : 0; i < len; i++) {
            d[i] = (float) (d[i] * Erf.geluSlope(v[i]));
        }
    }
}
