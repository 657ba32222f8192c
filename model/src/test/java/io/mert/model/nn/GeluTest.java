package io.mert.model.nn;

import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The tabulated erf against its double-precision source and libnd4j's erf; the fused GELU against the composed graph. */
class GeluTest {

    @Test
    void theTablesAreWithin1e9OfTheSeriesAndTheContinuedFraction() {
        for (double x = -7; x <= 7; x += 0.0013) {
            assertEquals(Erf.accurate(x), Erf.erf(x), 1e-9, "erf(" + x + ")");
        }
        for (double x = -12; x <= 12; x += 0.0017) {
            double z = x / Math.sqrt(2);
            double slope = 0.5 * (1 + Erf.accurate(z)) + x * Math.exp(-z * z) / Math.sqrt(2 * Math.PI);
            assertEquals(slope, Erf.geluSlope(x), 1e-9, "GELU'(" + x + ")");
        }
        assertEquals(0.0, Erf.erf(0.0), 0.0);
        assertEquals(1.0, Erf.erf(Double.POSITIVE_INFINITY), 0.0);
        assertEquals(-1.0, Erf.erf(Double.NEGATIVE_INFINITY), 0.0);
        assertEquals(Double.NaN, Erf.erf(Double.NaN));
        // values from tables of the error function
        assertEquals(0.8427007929497149, Erf.erf(1.0), 1e-12);
        assertEquals(0.9953222650189527, Erf.erf(2.0), 1e-12);
        assertEquals(0.9999779095030014, Erf.erf(3.0), 1e-12);
    }

    @Test
    void theTableAgreesWithLibnd4jsFloatErf() {
        float[] xs = new float[12001];
        for (int i = 0; i < xs.length; i++) xs[i] = -6 + i * 0.001f;
        SameDiff sd = SameDiff.create();
        SDVariable erf = sd.math().erf(sd.constant("x", Nd4j.create(xs)));
        float[] theirs = sd.output(Map.of(), erf.name()).get(erf.name()).data().asFloat();
        for (int i = 0; i < xs.length; i++) assertEquals(theirs[i], (float) Erf.erf(xs[i]), 3e-7f, "erf(" + xs[i] + ")");
    }

    @Test
    void valuesAndGradientsMatchTheComposedGraph() {
        Nd4j.getRandom().setSeed(11);
        INDArray x = Nd4j.randn(DataType.FLOAT, 3, 70001).muli(2.5); // more than two blocks, tails included
        INDArray weight = Nd4j.randn(DataType.FLOAT, 3, 70001);

        SameDiff ours = SameDiff.create();
        SDVariable y = Gelu.of(ours, ours.var("x", x.dup()));
        ours.constant("w", weight).mul(y).sum().rename("loss");
        SameDiff theirs = SameDiff.create();
        SDVariable tx = theirs.var("x", x.dup());
        SDVariable ref = tx.mul(theirs.math().erf(tx.mul(1.0 / Math.sqrt(2.0))).add(1.0)).mul(0.5);
        theirs.constant("w", weight).mul(ref).sum().rename("loss");

        assertArrayEquals(theirs.output(Map.of(), ref.name()).get(ref.name()).data().asFloat(),
                ours.output(Map.of(), y.name()).get(y.name()).dup().data().asFloat(), 3e-6f);
        assertArrayEquals(theirs.calculateGradients(Map.of(), "x").get("x").dup().data().asFloat(),
                ours.calculateGradients(Map.of(), "x").get("x").dup().data().asFloat(), 3e-6f);
    }
}
