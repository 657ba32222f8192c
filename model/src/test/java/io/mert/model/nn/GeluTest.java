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
import static org.junit.jupiter.api.Assertions.assertTrue;

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

    @Test
    void theVectorPathAgreesWithTheDoublePrecisionOne() {
        assertTrue(Gelu.VECTOR, "the tests run with --add-modules jdk.incubator.vector (pom.xml argLine)");
        int n = 400_003; // not a multiple of the vector length: the scalar loop finishes
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = -14f + 28f * i / n;
        x[0] = 0f;
        x[1] = -0f;
        x[2] = Float.MIN_VALUE;
        x[3] = -30f;
        x[4] = 30f;
        float[] y = x.clone(), d = new float[n];
        java.util.Arrays.fill(d, 1f);
        Gelu.forward(y, n);
        GeluBackward.backward(x.clone(), d, n);
        double worstValue = 0, worstSlope = 0;
        for (int i = 0; i < n; i++) {
            double z = x[i] / Math.sqrt(2);
            double phi = phi(x[i]);
            double value = x[i] * phi, slope = phi + x[i] * Math.exp(-z * z) / Math.sqrt(2 * Math.PI);
            // in float32, exp(-z^2) carries the rounding of z^2: a relative error growing as z^2 in the left tail
            double tail = 1 + z * z;
            double err = Math.abs(y[i] - value), slopeErr = Math.abs(d[i] - slope);
            if (z < -9.3) { // exp(-z^2) is below float32's normal range: the vector path flushes to zero
                assertTrue(err <= Math.abs(x[i]) * Float.MIN_NORMAL && slopeErr <= Math.abs(x[i]) * Float.MIN_NORMAL, "x = " + x[i]);
                continue;
            }
            worstValue = Math.max(worstValue, err / (Math.abs(value) + Float.MIN_NORMAL) / tail);
            // GELU' = Phi + x phi changes sign at x = -0.75: measured against its terms, not itself
            double terms = phi + Math.abs(slope - phi);
            worstSlope = Math.max(worstSlope, slopeErr / (terms + Float.MIN_NORMAL) / tail);
        }
        System.out.println("GELU relative error / (1 + z^2): value " + worstValue + ", slope " + worstSlope);
        assertTrue(worstValue < 1e-6, "GELU relative error / (1 + z^2) " + worstValue);
        assertTrue(worstSlope < 1e-6, "GELU' relative error / (1 + z^2) " + worstSlope);
        assertEquals(0f, y[0], 0f);
        assertEquals(0f, y[3], 0f);
        assertEquals(30f, y[4], 0f);
    }

    @Test
    void theVectorPathGivesTheSameBitsInterpretedAndCompiled() throws Exception {
        for (int i = 0; i < 2000; i++) GeluBitsMain.hash(); // compiled by now
        long compiled = GeluBitsMain.hash();
        String javaBin = java.nio.file.Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(javaBin, "-Xint", "--add-modules", "jdk.incubator.vector",
                "-cp", System.getProperty("java.class.path"), GeluBitsMain.class.getName()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        String last = out.strip().lines().reduce((a, b) -> b).orElse("");
        assertEquals(Long.toString(compiled), last, "interpreted GELU bits differ from compiled ones: " + out);
    }

    /** The normal distribution function in double, without cancellation in the left tail (where 1 + erf is tiny). */
    private static double phi(double x) {
        double z = x / Math.sqrt(2);
        if (z > -2.5) return 0.5 * (1 + Erf.accurate(z));
        double a = -z, f = a; // erfc(a) by its continued fraction, as Erf.accurate
        for (int k = 120; k >= 1; k--) f = a + (k / 2.0) / f;
        return 0.5 * Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
    }
}
