package io.mert.data.audio;

/** Names what a file that no Java decoder here reads looks like, from its first bytes, for messages. */
final class ContentGuess {
    private ContentGuess() {}

    static String describe(byte[] b) {
        if (AudioFormat.startsWith(b, 0, "OggS")) {
            int body = AudioFormat.firstOggBody(b);
            if (AudioFormat.startsWith(b, body, "\u007fFLAC")) return "FLAC in Ogg";
            if (AudioFormat.startsWith(b, body, "Speex   ")) return "Ogg Speex";
            if (AudioFormat.startsWith(b, body, "\u0080theora")) return "Ogg Theora (video)";
            return "an Ogg stream that is neither Vorbis nor Opus";
        }
        if (AudioFormat.startsWith(b, 0, "wvpk")) return "WavPack";
        if (AudioFormat.startsWith(b, 0, "MAC ")) return "Monkey's Audio (APE)";
        if (AudioFormat.startsWith(b, 0, "FORM") && (AudioFormat.startsWith(b, 8, "AIFF") || AudioFormat.startsWith(b, 8, "AIFC"))) return "AIFF";
        if (AudioFormat.startsWith(b, 0, "caff")) return "Core Audio (CAF)";
        if (AudioFormat.startsWith(b, 0, "RF64") || AudioFormat.startsWith(b, 0, "BW64")) return "RF64/BW64 WAV";
        if (AudioFormat.startsWith(b, 0, "RIFF")) return "a RIFF file that is not WAVE";
        if (AudioFormat.startsWith(b, 0, "\u0030\u0026\u00b2\u0075\u008e\u0066\u00cf\u0011")) return "ASF (WMA)";
        if (AudioFormat.startsWith(b, 0, "\u001a\u0045\u00df\u00a3")) return "Matroska/WebM";
        if (AudioFormat.startsWith(b, 0, "\u000b\u0077")) return "AC-3";
        if (AudioFormat.startsWith(b, 0, "TTA1")) return "TTA";
        if (b.length >= 2 && (b[0] & 0xFF) == 0xFF && (b[1] & 0xE0) == 0xE0) return "MPEG audio that is not layer III (e.g. MP2)";
        StringBuilder s = new StringBuilder("unrecognised content (starts with bytes");
        for (int i = 0; i < Math.min(8, b.length); i++) s.append(String.format(" %02x", b[i] & 0xFF));
        return s.append(')').toString();
    }
}
