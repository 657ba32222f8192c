package io.mert.model.nn;

import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The fused linear layer against SameDiff's matmul plus broadcast add (outputs) and against ND4J's products (gradients of x, W, b). */
class LinearTest {

    @Test
    void valuesAndGradientsMatchMatmulPlusBias() {
        check(74, 48, 32);
        check(3, 5, 7);
        check(1, 16, 1);
    }

    @Test
    void aWeightThatDoesNotFitIsRefused() {
        SameDiff sd = SameDiff.create();
        SDVariable y = Linear.of(sd, sd.var("x", Nd4j.rand(DataType.FLOAT, 3, 4)), sd.var("w", Nd4j.rand(DataType.FLOAT, 2, 5)),
                sd.var("b", Nd4j.rand(DataType.FLOAT, 2)));
        assertThrows(IllegalArgumentException.class, () -> sd.output(Map.of(), y.name()));
    }

    private static void check(int rows, int in, int out) {
        Nd4j.getRandom().setSeed(rows * 1000L + in);
        // the weight is a view into a larger flat buffer, as the model's parameters are
        INDArray flat = Nd4j.randn(DataType.FLOAT, 7 + (long) out * in);
        INDArray weight = flat.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(7, 7 + (long) out * in)).reshape(out, in);
        INDArray x = Nd4j.randn(DataType.FLOAT, rows, in), bias = Nd4j.randn(DataType.FLOAT, out), w = Nd4j.randn(DataType.FLOAT, rows, out);

        SameDiff ours = SameDiff.create();
        SDVariable y = Linear.of(ours, ours.var("x", x.dup()), ours.var("W", weight), ours.var("b", bias.dup()));
        ours.constant("w", w).mul(y).sum().rename("loss");
        SameDiff theirs = SameDiff.create();
        SDVariable ref = theirs.mmul(theirs.var("x", x.dup()), theirs.var("W", weight.dup()), false, true, false).add(theirs.var("b", bias.dup()));
        theirs.constant("w", w).mul(ref).sum().rename("loss");

        assertArrayEquals(theirs.output(Map.of(), ref.name()).get(ref.name()).data().asFloat(),
                ours.output(Map.of(), y.name()).get(y.name()).dup().data().asFloat(), 2e-5f);
        // the gradients from the products themselves: M2.1's matmul_bp is wrong for a [1, n] x [1, n]^T product
        Map<String, INDArray> g = ours.calculateGradients(Map.of(), "x", "W", "b");
        assertArrayEquals(w.mmul(weight).data().asFloat(), g.get("x").dup().data().asFloat(), 1e-4f, "gradient of x");
        assertArrayEquals(w.transpose().mmul(x).dup().data().asFloat(), g.get("W").dup().data().asFloat(), 1e-4f, "gradient of W");
        assertArrayEquals(w.sum(0).data().asFloat(), g.get("b").dup().data().asFloat(), 1e-4f, "gradient of b");
    }
}
