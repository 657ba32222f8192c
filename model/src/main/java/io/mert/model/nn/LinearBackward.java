package io.mert.model.nn;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.List;

/**
 * The backward pass of {@link Linear}: {@code dx = dy W}, {@code dW = dy^T x} (two sgemm calls) and {@code db} the
 * column sums of dy, accumulated in double row by row (a fixed order, whatever the thread count).
 */
public final class LinearBackward extends JavaKernelOp { // public, as its constructor: SameDiff instantiates it reflectively

    static final String NAME = "mert_linear_bp";

    static {
        register(new LinearBackward());
    }

    public LinearBackward() {
    }

    private LinearBackward(SameDiff sd, SDVariable x, SDVariable weight, SDVariable dy) {
        super(sd, new SDVariable[] {x, weight, dy});
    }

    /** The gradients of x, the weight and the bias. */
    static List<SDVariable> of(SameDiff sd, SDVariable x, SDVariable weight, SDVariable dy) {
        return Arrays.asList(new LinearBackward(sd, x, weight, dy).outputVariables());
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
        long[] x = inputs[0].shape(), w = inputs[1].shape(), dy = inputs[2].shape();
        if (dy.length != 2 || dy[0] != x[0] || dy[1] != w[0]) {
            throw new IllegalArgumentException(NAME + ": gradient " + Arrays.toString(dy) + " does not fit x " + Arrays.toString(x)
                    + " and weight " + Arrays.toString(w));
        }
        return new long[][] {x, w, {w[0]}};
    }

    @Override
    void compute(INDArray[] inputs, INDArray[] outputs) {
        INDArray x = inputs[0], w = inputs[1], dy = inputs[2];
        Nd4j.gemm(dy, w, outputs[0], false, false, 1.0, 0.0);
        Nd4j.gemm(dy, x, outputs[1], true, false, 1.0, 0.0);
        int rows = (int) dy.size(0), out = (int) dy.size(1);
        FloatBuffer g = KernelMemory.floats(dy), db = KernelMemory.floats(outputs[2]);
        float[] row = KernelMemory.scratch(0, out);
        double[] sum = new double[out];
        for (int r = 0; r < rows; r++) {
            g.get(r * out, row, 0, out);
            for (int c = 0; c < out; c++) sum[c] += row[c];
        }
        for (int c = 0; c < out; c++) db.put(c, (float) sum[c]);
    }
}
