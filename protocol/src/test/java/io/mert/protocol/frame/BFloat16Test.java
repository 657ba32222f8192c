package io.mert.protocol.frame;

import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@link BFloat16} against PyTorch's float32 to bfloat16 conversion (round to nearest even): 4028
 * float32 bit patterns (ties, carries into the exponent, overflow to infinity, subnormals, NaNs and
 * 4000 random ones) from {@code tools/reference/make_bf16_fixture.py}. Every finite or infinite input
 * must give torch's bits; a NaN must give a NaN (torch's vectorised CPU kernel writes 0xffff, its
 * scalar c10::BFloat16 0x7fc0; ours is 0x7fc0).
 */
class BFloat16Test {

    @Test
    void roundsAsPyTorchDoes() throws Exception {
        int lines = 0, nans = 0, ties = 0;
        try (InputStream in = BFloat16Test.class.getResourceAsStream("/reference/bf16.txt")) {
            assertNotNull(in, "reference/bf16.txt is missing: run tools/reference/make_bf16_fixture.py");
            BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.US_ASCII));
            for (String line; (line = r.readLine()) != null; ) {
                if (line.startsWith("#")) continue;
                String[] f = line.split(" ");
                int bits = Integer.parseUnsignedInt(f[0], 16);
                short expected = (short) Integer.parseInt(f[1], 16);
                short got = BFloat16.fromFloatBits(bits);
                lines++;
                if (Float.isNaN(Float.intBitsToFloat(bits))) {
                    nans++;
                    assertTrue(Float.isNaN(BFloat16.toFloat(got)), "NaN " + f[0] + " must stay NaN, got " + Integer.toHexString(got & 0xFFFF));
                    assertTrue(Float.isNaN(BFloat16.toFloat(expected)), "torch keeps NaN " + f[0]);
                    continue;
                }
                if ((bits & 0xFFFF) == 0x8000) ties++;
                assertEquals(expected & 0xFFFF, got & 0xFFFF, "float32 bits " + f[0]);
                assertEquals(BFloat16.toFloat(got), BFloat16.round(Float.intBitsToFloat(bits)));
            }
        }
        assertEquals(4028, lines);
        assertTrue(nans > 5 && ties > 100, nans + " NaNs, " + ties + " ties: the fixture covers them");
    }

    @Test
    void widenIsExactAndRoundingIsIdempotent() {
        for (int b = 0; b < 65536; b++) {
            short h = (short) b;
            float f = BFloat16.toFloat(h);
            assertEquals(b << 16, Float.floatToRawIntBits(f));
            if (!Float.isNaN(f)) assertEquals(b, BFloat16.fromFloat(f) & 0xFFFF, "bfloat16 " + Integer.toHexString(b));
        }
    }
}
