package io.mert.model.nn;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.FloatBuffer;
import java.util.List;

/**
 * Exact GELU, {@code 0.5 x (1 + erf(x / sqrt 2))} as torch.nn.GELU, in one pass; its backward pass is
 * {@link GeluBackward}. Composed from SameDiff primitives it was 5 ops forward and about 10 backward, on the
 * extractor's largest tensors among others.
 */
public final class Gelu extends JavaKernelOp { // public, as its constructor: SameDiff instantiates it reflectively

    static final String NAME = "mert_gelu";
    static final double INV_SQRT2 = 1 / Math.sqrt(2);
    /**
     * Whether GELU and its derivative run on {@link GeluVector} (float32, 8 lanes with AVX2): when the JVM resolved
     * {@code jdk.incubator.vector} (the {@code mert} launcher gives it to the commands that train), unless
     * {@code -Dmert.gelu.vector=false}. Otherwise the scalar loop below, in double precision.
     */
    static final boolean VECTOR = !"false".equals(System.getProperty("mert.gelu.vector"))
            && ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
    /** Elements per task: small enough to balance, large enough to amortise the hand-off. */
    static final int BLOCK = 1 << 15;

    static {
        register(new Gelu());
    }

    public Gelu() {
    }

    private Gelu(SameDiff sd, SDVariable x) {
        super(sd, new SDVariable[] {x});
    }

    static SDVariable of(SameDiff sd, SDVariable x) {
        return new Gelu(sd, x).outputVariable();
    }

    @Override
    public String opName() {
        return NAME;
    }

    @Override
    long[][] outputShapes(INDArray[] inputs) {
        return new long[][] {inputs[0].shape()};
    }

    @Override
    void compute(INDArray[] inputs, INDArray[] outputs) {
        FloatBuffer x = KernelMemory.floats(inputs[0]), y = KernelMemory.floats(outputs[0]);
        int n = (int) inputs[0].length();
        KernelMemory.parallelFor((n + BLOCK - 1) / BLOCK, b -> {
            int from = b * BLOCK, len = Math.min(BLOCK, n - from);
            float[] v = KernelMemory.scratch(0, BLOCK);
            x.get(from, v, 0, len);
            forward(v, len);
            y.put(from, v, 0, len);
        });
    }

    /** v[i] = GELU(v[i]) for i < len: vectors, then a plain loop for the rest (or all, without the Vector API). */
    static void forward(float[] v, int len) {
        for (int i = VECTOR ? GeluVector.forward(v, len) : 0; i < len; i++) {
            double t = v[i];
            v[i] = (float) (0.5 * t * (1 + Erf.erf(t * INV_SQRT2)));
        }
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> gradients) {
        return List.of(GeluBackward.of(sameDiff, arg(0), gradients.get(0)));
    }
}
