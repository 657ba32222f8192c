package io.mert.model.nn;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.List;

/**
 * {@code y = x W^T + b} for x [N, in], W [out, in], b [out], as one op: y's rows start as the bias and one BLAS
 * {@code sgemm} adds the product into them ({@code beta = 1}). {@link LinearBackward} is the backward pass.
 *
 * <p>Why: through SameDiff a linear layer was a matmul and a broadcast add forward and a matmul_bp and an add_bp
 * backward, and M2.1's matmul cost about 0.5 ms more per call than {@link Nd4j#gemm} on the same 95M shapes; a 95M
 * step has 85 linear layers. Float32 only: mixed precision keeps SameDiff's casting matmul.
 */
public final class Linear extends JavaKernelOp { // public, as its constructor: SameDiff instantiates it reflectively

    static final String NAME = "mert_linear";

    static {
        register(new Linear());
    }

    public Linear() {
    }

    private Linear(SameDiff sd, SDVariable x, SDVariable weight, SDVariable bias) {
        super(sd, new SDVariable[] {x, weight, bias});
    }

    static SDVariable of(SameDiff sd, SDVariable x2d, SDVariable weight, SDVariable bias) {
        return new Linear(sd, x2d, weight, bias).outputVariable();
    }

    @Override
    public String opName() {
        return NAME;
    }

    @Override
    long[][] outputShapes(INDArray[] inputs) {
        long[] x = inputs[0].shape(), w = inputs[1].shape();
        if (x.length != 2 || w.length != 2 || x[1] != w[1] || inputs[2].length() != w[0]) {
            throw new IllegalArgumentException(NAME + ": x " + Arrays.toString(x) + ", weight " + Arrays.toString(w) + ", bias "
                    + Arrays.toString(inputs[2].shape()) + " do not make a linear layer");
        }
        return new long[][] {{x[0], w[0]}};
    }

    @Override
    void compute(INDArray[] inputs, INDArray[] outputs) {
        INDArray y = outputs[0];
        int rows = (int) y.size(0), out = (int) y.size(1);
        FloatBuffer b = KernelMemory.floats(inputs[2]), to = KernelMemory.floats(y);
        float[] bias = KernelMemory.scratch(0, out);
        b.get(0, bias, 0, out);
        for (int r = 0; r < rows; r++) to.put(r * out, bias, 0, out);
        Nd4j.gemm(inputs[0], inputs[1], y, false, true, 1.0, 1.0);
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> gradients) {
        return LinearBackward.of(sameDiff, arg(0), arg(1), gradients.get(0));
    }
}
