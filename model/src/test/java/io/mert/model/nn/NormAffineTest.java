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

/**
 * The fused normalisation and its backward pass against the same computation composed from libnd4j ops (mean,
 * centring, biased variance, rsqrt, broadcast gain and bias) and SameDiff's autodiff of it: outputs and the
 * gradients of input, gain and bias, for a layer norm over the last axis, a group norm per channel over time and a
 * layer norm over channels.
 */
class NormAffineTest {

    @Test
    void layerNormOverTheLastAxisMatchesTheComposedGraph() {
        check(new long[] {2, 7, 12}, 2, 2);
        check(new long[] {1, 74, 33}, 2, 2);
    }

    @Test
    void perChannelNormOverTimeMatchesTheComposedGraph() {
        check(new long[] {2, 5, 41}, 2, 1);
    }

    @Test
    void layerNormOverChannelsMatchesTheComposedGraph() {
        check(new long[] {3, 8, 13}, 1, 1);
    }

    @Test
    void unsupportedLayoutsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new NormAffine.Layout(1, 2, 1e-5));
        assertThrows(IllegalArgumentException.class, () -> new NormAffine.Layout(0, 0, 1e-5));
        assertThrows(IllegalArgumentException.class, () -> new NormAffine.Layout(2, 2, 0));
    }

    private static void check(long[] shape, int axis, int gainAxis) {
        Nd4j.getRandom().setSeed(shape[1] * 31 + axis);
        INDArray x = Nd4j.randn(DataType.FLOAT, shape).muli(3).addi(1.5);
        INDArray gain = Nd4j.randn(DataType.FLOAT, shape[gainAxis]);
        INDArray bias = Nd4j.randn(DataType.FLOAT, shape[gainAxis]);
        INDArray weight = Nd4j.randn(DataType.FLOAT, shape); // a loss whose gradient differs everywhere

        SameDiff ours = SameDiff.create();
        SDVariable y = NormAffine.of(ours, ours.var("x", x.dup()), ours.var("g", gain.dup()), ours.var("b", bias.dup()), axis, gainAxis, 1e-5);
        ours.constant("w", weight).mul(y).sum().rename("loss");

        SameDiff theirs = SameDiff.create();
        long[] broadcast = {1, 1, 1};
        broadcast[gainAxis] = shape[gainAxis];
        SDVariable tx = theirs.var("x", x.dup());
        SDVariable centered = tx.sub(tx.mean(true, axis));
        SDVariable var = centered.mul(centered).mean(true, axis);
        SDVariable ref = centered.mul(theirs.math().rsqrt(var.add(1e-5)))
                .mul(theirs.var("g", gain.dup()).reshape(broadcast)).add(theirs.var("b", bias.dup()).reshape(broadcast));
        theirs.constant("w", weight).mul(ref).sum().rename("loss");

        String what = java.util.Arrays.toString(shape) + " axis " + axis + " gain axis " + gainAxis;
        assertArrayEquals(theirs.output(Map.of(), ref.name()).get(ref.name()).data().asFloat(),
                ours.output(Map.of(), y.name()).get(y.name()).dup().data().asFloat(), 2e-5f, what);
        Map<String, INDArray> gradOurs = ours.calculateGradients(Map.of(), "x", "g", "b");
        Map<String, INDArray> gradTheirs = theirs.calculateGradients(Map.of(), "x", "g", "b");
        for (String v : new String[] {"x", "g", "b"}) {
            float[] want = gradTheirs.get(v).dup().data().asFloat(), got = gradOurs.get(v).dup().data().asFloat();
            float scale = 0;
            for (float w : want) scale = Math.max(scale, Math.abs(w));
            assertArrayEquals(want, got, 2e-5f * Math.max(1, scale), what + ": gradient of " + v);
        }
    }
}
