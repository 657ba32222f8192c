package io.mert.data.audio;

/**
 * The Xing/Info frame that LAME (and ffmpeg) put first in an MP3: the number of audio frames, the
 * stream's byte count and, in the LAME extension, the encoder delay and end padding in samples that
 * gapless decoding removes. This frame carries no audio itself.
 *
 * @param frames  audio frames after this one, or -1 when not stated
 * @param bytes   bytes of the MPEG stream including this frame, or -1 when not stated
 * @param delay   encoder delay in samples, or -1 without a LAME extension
 * @param padding samples of padding at the end, or -1 without a LAME extension
 */
record LameTag(long frames, long bytes, int delay, int padding) {
    /** The tag in the frame at {@code pos}, or null when that frame is an ordinary audio frame. */
    static LameTag parse(byte[] b, int pos, MpegHeader h) {
        int p = pos + 4 + h.sideInfoBytes();
        int frameEnd = Math.min(b.length, pos + h.frameBytes());
        if (!(AudioFormat.startsWith(b, p, "Xing") || AudioFormat.startsWith(b, p, "Info")) || p + 8 > frameEnd) return null;
        int flags = be32(b, p + 4);
        p += 8;
        long frames = -1, bytes = -1;
        if ((flags & 1) != 0) {
            if (p + 4 > frameEnd) return null;
            frames = be32(b, p) & 0xFFFFFFFFL;
            p += 4;
        }
        if ((flags & 2) != 0) {
            if (p + 4 > frameEnd) return null;
            bytes = be32(b, p) & 0xFFFFFFFFL;
            p += 4;
        }
        if ((flags & 4) != 0) p += 100; // seek table
        if ((flags & 8) != 0) p += 4;   // quality
        int delay = -1, padding = -1;
        // 9-byte encoder string, then revision, lowpass, peak (4), two replay gains (2+2), flags, bitrate: 21 bytes
        if (p + 24 <= frameEnd && (AudioFormat.startsWith(b, p, "LAME") || AudioFormat.startsWith(b, p, "Lavc")
                || AudioFormat.startsWith(b, p, "Lavf"))) {
            int d0 = b[p + 21] & 0xFF, d1 = b[p + 22] & 0xFF, d2 = b[p + 23] & 0xFF;
            delay = (d0 << 4) | (d1 >> 4);
            padding = ((d1 & 0x0F) << 8) | d2;
        }
        return new LameTag(frames, bytes, delay, padding);
    }

    private static int be32(byte[] b, int p) {
        return ((b[p] & 0xFF) << 24) | ((b[p + 1] & 0xFF) << 16) | ((b[p + 2] & 0xFF) << 8) | (b[p + 3] & 0xFF);
    }
}
