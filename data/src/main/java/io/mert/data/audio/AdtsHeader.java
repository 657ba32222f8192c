package io.mert.data.audio;

/**
 * The fixed and variable header of one ADTS frame (ISO/IEC 13818-7 / 14496-3 1.A.2): a 12-bit sync,
 * layer 00 (which tells it from MPEG audio), the AAC object type, sampling frequency index,
 * channel configuration and the frame's length including the header.
 */
record AdtsHeader(int objectType, int frequencyIndex, int channelConfig, int frameLength, int headerLength, int rawBlocks) {
    private static final int[] RATES = {96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350};

    /** The header at {@code pos}, or null when the bytes there are no valid ADTS header. */
    static AdtsHeader parse(byte[] b, int pos) {
        if (pos < 0 || pos + 7 > b.length) return null;
        if ((b[pos] & 0xFF) != 0xFF || (b[pos + 1] & 0xF6) != 0xF0) return null;
        boolean crc = (b[pos + 1] & 1) == 0;
        int profile = (b[pos + 2] & 0xC0) >> 6;
        int sf = (b[pos + 2] & 0x3C) >> 2;
        int chan = (b[pos + 2] & 1) << 2 | (b[pos + 3] & 0xC0) >> 6;
        int len = (b[pos + 3] & 3) << 11 | (b[pos + 4] & 0xFF) << 3 | (b[pos + 5] & 0xE0) >> 5;
        int blocks = b[pos + 6] & 3;
        int header = crc ? 9 : 7;
        if (sf >= RATES.length || len < header) return null;
        return new AdtsHeader(profile + 1, sf, chan, len, header, blocks);
    }

    /** An ADTS header at {@code pos} followed by another one right after its frame (or by the end of the data). */
    static boolean startsStream(byte[] b, int pos) {
        AdtsHeader h = parse(b, pos);
        if (h == null) return false;
        int next = pos + h.frameLength;
        if (next >= b.length) return next == b.length;
        AdtsHeader n = parse(b, next);
        return n != null && n.frequencyIndex == h.frequencyIndex && n.channelConfig == h.channelConfig;
    }

    int sampleRate() { return RATES[frequencyIndex]; }

    /** The 2-byte AudioSpecificConfig (14496-3 1.6.2.1) an MP4 file would carry for this stream. */
    byte[] audioSpecificConfig() {
        int v = objectType << 11 | frequencyIndex << 7 | channelConfig << 3;
        return new byte[] {(byte) (v >> 8), (byte) v};
    }
}
