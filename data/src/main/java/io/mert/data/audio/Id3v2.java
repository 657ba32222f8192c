package io.mert.data.audio;

/** The ID3v2 tag some MP3 (and FLAC) files start with: "ID3", version, flags, a 28-bit syncsafe size. */
final class Id3v2 {
    private Id3v2() {}

    /** Offset of the first byte after the ID3v2 tag at the start of {@code b} (0 when there is none). */
    static int skip(byte[] b) {
        if (b.length < 10 || b[0] != 'I' || b[1] != 'D' || b[2] != '3') return 0;
        for (int i = 6; i < 10; i++) if ((b[i] & 0x80) != 0) return 0; // not syncsafe: not a tag
        int size = ((b[6] & 0x7F) << 21) | ((b[7] & 0x7F) << 14) | ((b[8] & 0x7F) << 7) | (b[9] & 0x7F);
        boolean footer = (b[5] & 0x10) != 0;
        long end = 10L + size + (footer ? 10 : 0);
        return (int) Math.min(end, b.length);
    }
}
