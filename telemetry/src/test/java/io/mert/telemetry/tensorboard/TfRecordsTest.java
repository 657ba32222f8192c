package io.mert.telemetry.tensorboard;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class TfRecordsTest {

    @Test
    void maskedCrcMatchesTheCrc32cCheckValueMaskedAsTensorFlowDoes() {
        byte[] check = "123456789".getBytes(StandardCharsets.US_ASCII);
        int crc = 0xE3069283; // the CRC-32C check value of "123456789" (RFC 3720, B.4)
        int masked = ((crc >>> 15) | (crc << 17)) + 0xa282ead8;
        assertEquals(masked, TfRecords.maskedCrc32c(check, 0, check.length));
    }

    @Test
    void framedRecordsReadBack() throws IOException {
        byte[] a = "first".getBytes(StandardCharsets.UTF_8);
        byte[] b = new byte[0];
        byte[] c = new byte[300];
        for (int i = 0; i < c.length; i++) c[i] = (byte) i;
        byte[] file = concat(TfRecords.frame(a), TfRecords.frame(b), TfRecords.frame(c));
        assertEquals(3 * 16 + 5 + 300, file.length);
        List<byte[]> back = TfRecords.readAll(file);
        assertEquals(3, back.size());
        assertArrayEquals(a, back.get(0));
        assertArrayEquals(b, back.get(1));
        assertArrayEquals(c, back.get(2));
    }

    @Test
    void everyFlippedByteIsDetected() throws IOException {
        byte[] data = "tensorboard".getBytes(StandardCharsets.UTF_8);
        byte[] file = concat(TfRecords.frame(data), TfRecords.frame(data));
        assertEquals(2, TfRecords.readAll(file).size());
        for (int i = 0; i < file.length; i++) {
            byte[] bad = file.clone();
            bad[i] ^= 0x10;
            assertThrows(IOException.class, () -> TfRecords.readAll(bad), "flipped byte " + i + " not detected");
        }
    }

    @Test
    void aTruncatedRecordIsAnError() {
        byte[] file = TfRecords.frame("x".getBytes(StandardCharsets.UTF_8));
        for (int n = 1; n < file.length; n++) {
            byte[] cut = java.util.Arrays.copyOf(file, n);
            assertThrows(IOException.class, () -> TfRecords.readAll(cut), "cut at " + n);
        }
    }

    static byte[] concat(byte[]... parts) {
        java.io.ByteArrayOutputStream o = new java.io.ByteArrayOutputStream();
        for (byte[] p : parts) o.writeBytes(p);
        return o.toByteArray();
    }
}
