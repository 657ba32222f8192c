package io.mert.data.audio;

/** The 4-byte header of an MPEG-1/2/2.5 audio layer III frame (ISO/IEC 11172-3, 13818-3). */
record MpegHeader(int sampleRate, int channels, int frameBytes, int samplesPerFrame, int sideInfoBytes) {
    private static final int[] BITRATE_V1 = {0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320};
    private static final int[] BITRATE_V2 = {0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160};
    private static final int[][] RATES = {{11025, 12000, 8000}, null, {22050, 24000, 16000}, {44100, 48000, 32000}};

    /** The layer III header at {@code pos}, or null when the bytes there are not one. */
    static MpegHeader parse(byte[] b, int pos) {
        if (pos < 0 || pos + 4 > b.length) return null;
        int b1 = b[pos + 1] & 0xFF, b2 = b[pos + 2] & 0xFF, b3 = b[pos + 3] & 0xFF;
        if ((b[pos] & 0xFF) != 0xFF || (b1 & 0xE0) != 0xE0) return null;
        int version = (b1 >> 3) & 3;       // 0: MPEG-2.5, 1: reserved, 2: MPEG-2, 3: MPEG-1
        int layer = (b1 >> 1) & 3;         // 1: layer III
        int bitrateIndex = b2 >> 4;
        int rateIndex = (b2 >> 2) & 3;
        if (version == 1 || layer != 1 || bitrateIndex == 0 || bitrateIndex == 15 || rateIndex == 3) return null;
        boolean v1 = version == 3;
        int rate = RATES[version][rateIndex];
        int kbps = (v1 ? BITRATE_V1 : BITRATE_V2)[bitrateIndex];
        int padding = (b2 >> 1) & 1;
        int channels = (b3 >> 6) == 3 ? 1 : 2;
        int frameBytes = (v1 ? 144 : 72) * kbps * 1000 / rate + padding;
        int side = v1 ? (channels == 1 ? 17 : 32) : (channels == 1 ? 9 : 17);
        return new MpegHeader(rate, channels, frameBytes, v1 ? 1152 : 576, side);
    }
}
