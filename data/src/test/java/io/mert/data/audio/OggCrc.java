package io.mert.data.audio;

/** Rewrites the checksum of an Ogg page (RFC 3533: CRC-32, polynomial 0x04c11db7, not reflected, initial 0), for tests that edit a header. */
final class OggCrc {
    private OggCrc() {}

    /** Recomputes the checksum of the page that starts at {@code pos}; returns the page's length. */
    static int fix(byte[] b, int pos) {
        int segments = b[pos + 26] & 0xFF;
        int len = 27 + segments;
        for (int i = 0; i < segments; i++) len += b[pos + 27 + i] & 0xFF;
        for (int i = 22; i < 26; i++) b[pos + i] = 0;
        int crc = 0;
        for (int i = pos; i < pos + len; i++) {
            crc ^= (b[i] & 0xFF) << 24;
            for (int k = 0; k < 8; k++) crc = (crc & 0x80000000) != 0 ? (crc << 1) ^ 0x04c11db7 : crc << 1;
        }
        for (int i = 0; i < 4; i++) b[pos + 22 + i] = (byte) (crc >>> (8 * i));
        return len;
    }
}
