package io.mert.protocol.frame;

/**
 * float32 to bfloat16 and back, on raw bits: bfloat16 is the upper 16 bits of a float32 (sign, the
 * same 8-bit exponent, 7 mantissa bits), so the range is float32's and the precision 2^-8 relative.
 * Rounding is to nearest, ties to even, as PyTorch's {@code tensor.to(torch.bfloat16)} does (fixtures
 * from {@code tools/reference/bf16_fixture.py} check that, NaN and the infinities included).
 */
public final class BFloat16 {

    /** The NaN every NaN becomes, PyTorch's (c10::BFloat16): a quiet NaN with the sign bit clear. */
    public static final short NAN = 0x7FC0;

    private BFloat16() {
    }

    /**
     * The bfloat16 nearest to the float32 with these bits (ties to even). Finite values above the largest
     * bfloat16 round to infinity, as IEEE rounding does; infinities stay; any NaN becomes {@link #NAN}
     * (rounding a NaN's bits could carry into the exponent and make it an infinity).
     */
    public static short fromFloatBits(int bits) {
        if ((bits & 0x7FFFFFFF) > 0x7F800000) return NAN;
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    public static short fromFloat(float value) {
        return fromFloatBits(Float.floatToRawIntBits(value));
    }

    /** The float32 bits of a bfloat16: exact (the low 16 bits are zero). */
    public static int toFloatBits(short bf16) {
        return bf16 << 16;
    }

    public static float toFloat(short bf16) {
        return Float.intBitsToFloat(bf16 << 16);
    }

    /** {@code value} rounded to the nearest bfloat16 and widened back: what a bfloat16 wire delivers. */
    public static float round(float value) {
        return toFloat(fromFloat(value));
    }
}
