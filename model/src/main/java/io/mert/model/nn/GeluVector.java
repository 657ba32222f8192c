package io.mert.model.nn;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * GELU and its derivative with the JDK's (incubating) Vector API, in float32: 8 lanes with AVX2, where the scalar
 * path ({@link Erf}, double precision, table lookups) does one element at a time. Loaded only when the JVM resolved
 * {@code jdk.incubator.vector} ({@link Gelu#VECTOR}); the {@code mert} launcher and the tests give it.
 * <p>
 * With z = |x| / sqrt 2 and E = erfc(z) / 2 = exp(-z^2) R(t) / 2, t = 1 / (1 + P z): Phi(x) = 1 - E for x >= 0 and E
 * below, GELU(x) = x Phi(x), GELU'(x) = Phi(x) + x exp(-z^2) / sqrt(2 pi). R is a polynomial of degree 8 in t, fitted by
 * {@code tools/reference/fit_gelu_erfc.py} (relative error 3.6e-7 in float32 for z up to 9.5, where exp(-z^2) leaves
 * float32's range); exp is {@link #exp}. Both signs take the same path, which matters: GELU's inputs change sign at
 * random.
 */
final class GeluVector {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final FloatVector ONE = FloatVector.broadcast(S, 1f);
    private static final float P = 0.425f;
    private static final float C0 = 1.617241468920838e-05f, C1 = 0.23935990035533905f, C2 = 0.24445773661136627f,
            C3 = 0.18901431560516357f, C4 = 0.28620126843452454f, C5 = -0.15386322140693665f, C6 = 0.4568893015384674f,
            C7 = -0.33948200941085815f, C8 = 0.0774066373705864f;
    private static final float LOG2E = (float) (1 / Math.log(2));
    private static final float ROUND = 12582912f; // 1.5 * 2^23
    private static final int ROUND_BITS = Float.floatToRawIntBits(ROUND);
    private static final FloatVector ZERO = FloatVector.zero(S);
    private static final float LN2_HI = 0.693359375f; // 355 / 512: few bits, so k * LN2_HI is exact
    private static final float LN2_LO = (float) (Math.log(2) - 0.693359375);
    private static final float INV_SQRT2 = (float) (1 / Math.sqrt(2));
    private static final float INV_SQRT_2PI = (float) (1 / Math.sqrt(2 * Math.PI));

    private GeluVector() {
    }

    /** v[i] = GELU(v[i]) for i < len; returns how many it did (a multiple of the vector length; the caller does the rest). */
    static int forward(float[] v, int len) {
        int i = 0;
        for (int end = S.loopBound(len); i < end; i += S.length()) {
            FloatVector x = FloatVector.fromArray(S, v, i);
            FloatVector z = x.abs().mul(INV_SQRT2);
            FloatVector e = halfErfc(z, gauss(z));
            FloatVector phi = e.neg().add(1f).blend(e, x.compare(VectorOperators.LT, 0f));
            x.mul(phi).intoArray(v, i);
        }
        return i;
    }

    /** d[i] = d[i] GELU'(v[i]) for i < len; returns how many it did, as {@link #forward}. */
    static int backward(float[] v, float[] d, int len) {
        int i = 0;
        for (int end = S.loopBound(len); i < end; i += S.length()) {
            FloatVector x = FloatVector.fromArray(S, v, i);
            FloatVector z = x.abs().mul(INV_SQRT2);
            FloatVector g = gauss(z);
            FloatVector e = halfErfc(z, g);
            VectorMask<Float> negative = x.compare(VectorOperators.LT, 0f);
            FloatVector phi = e.neg().add(1f).blend(e, negative);
            FloatVector slope = x.mul(g).mul(INV_SQRT_2PI).add(phi);
            FloatVector.fromArray(S, d, i).mul(slope).intoArray(d, i);
        }
        return i;
    }

    /** exp(-z^2), see {@link #exp}. */
    private static FloatVector gauss(FloatVector z) {
        return exp(z.mul(z).neg());
    }

    /**
     * exp(w) for w <= 0, within 2 ulp; 0 below -87 (where float32 leaves its normal range). Written with additions,
     * products, fused multiply-adds and integer shifts only, which give the same bits compiled or interpreted: the
     * Vector API's own EXP does not (the JIT's intrinsic and the interpreter's fallback round differently), and the
     * same step must give the same bits whenever it runs, for resumes to be exact.
     * <p>
     * w = k ln 2 + f with k an integer and |f| <= ln(2) / 2 (ln 2 split in two, so k ln2_hi is exact); e^f from its
     * Taylor series to degree 7 (error below 6e-9); 2^k from the exponent bits.
     */
    private static FloatVector exp(FloatVector w) {
        // round to nearest: adding 1.5 * 2^23 drops the fraction and leaves k in the low bits of the sum
        FloatVector shifted = w.fma(LOG2E, ROUND);
        FloatVector k = shifted.sub(ROUND);
        FloatVector f = k.fma(FloatVector.broadcast(S, -LN2_HI), w);
        f = k.fma(FloatVector.broadcast(S, -LN2_LO), f);
        FloatVector p = f.fma(1f / 5040, 1f / 720).fma(f, FloatVector.broadcast(S, 1f / 120))
                .fma(f, FloatVector.broadcast(S, 1f / 24)).fma(f, FloatVector.broadcast(S, 1f / 6))
                .fma(f, FloatVector.broadcast(S, 0.5f)).fma(f, ONE).fma(f, ONE);
        // 2^k from those bits (Java 17 does not compile the float-to-int conversion to vector code on AVX2)
        FloatVector scale = ((IntVector) shifted.reinterpretAsInts()).sub(ROUND_BITS - 127).lanewise(VectorOperators.LSHL, 23)
                .reinterpretAsFloats();
        return p.mul(scale).blend(ZERO, w.compare(VectorOperators.LT, -87f));
    }

    /** erfc(z) / 2 for z >= 0, given exp(-z^2). */
    private static FloatVector halfErfc(FloatVector z, FloatVector gauss) {
        FloatVector t = ONE.div(z.fma(P, 1f));
        FloatVector r = t.fma(C8, C7).fma(t, FloatVector.broadcast(S, C6)).fma(t, FloatVector.broadcast(S, C5))
                .fma(t, FloatVector.broadcast(S, C4)).fma(t, FloatVector.broadcast(S, C3)).fma(t, FloatVector.broadcast(S, C2))
                .fma(t, FloatVector.broadcast(S, C1)).fma(t, FloatVector.broadcast(S, C0));
        return r.mul(gauss).mul(0.5f);
    }
}
