package io.mert.data.audio;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Locale;

/** The container/codec pairs this package decodes, recognised by their first bytes. */
public enum AudioFormat {
    WAV("wav"), FLAC("flac"), OGG_VORBIS("ogg"), MP3("mp3");

    private final String extension;

    AudioFormat(String extension) {
        this.extension = extension;
    }

    /** The usual file extension, lower case, without the dot. */
    public String extension() { return extension; }

    /** The format whose usual extension this is (case-insensitive, leading dot allowed), or null. */
    public static AudioFormat ofExtension(String ext) {
        String e = ext.toLowerCase(Locale.ROOT);
        if (e.startsWith(".")) e = e.substring(1);
        for (AudioFormat f : values()) if (f.extension.equals(e)) return f;
        return null;
    }

    /** "wav, flac, ogg, mp3", for messages. */
    public static String extensions() {
        return String.join(", ", Arrays.stream(values()).map(AudioFormat::extension).toList());
    }

    /**
     * Recognises a format from the start of a file: "RIFF....WAVE", "fLaC", an Ogg page whose first
     * packet is a Vorbis identification header, or an MPEG audio layer III frame sync. An ID3v2 tag
     * in front (common on MP3, sometimes on FLAC) is skipped first. Returns null when nothing matches.
     */
    public static AudioFormat sniff(byte[] b) {
        if (startsWith(b, 0, "RIFF") && startsWith(b, 8, "WAVE")) return WAV;
        if (startsWith(b, 0, "OggS")) return isVorbisStart(b) ? OGG_VORBIS : null;
        int start = Id3v2.skip(b);
        if (startsWith(b, start, "fLaC")) return FLAC;
        int pos = start;
        // stray zero bytes between an ID3 tag and the first frame are common
        while (start > 0 && pos < b.length && pos < start + 4096 && b[pos] == 0) pos++;
        if (MpegHeader.parse(b, pos) != null) return MP3;
        return null;
    }

    /** The first Ogg page (27-byte header + segment table) carries "\u0001vorbis". */
    private static boolean isVorbisStart(byte[] b) {
        if (b.length < 27) return false;
        int segments = b[26] & 0xFF;
        int body = 27 + segments;
        return b.length >= body + 7 && b[body] == 1 && startsWith(b, body + 1, "vorbis");
    }

    static boolean startsWith(byte[] b, int pos, String ascii) {
        byte[] s = ascii.getBytes(StandardCharsets.ISO_8859_1);
        if (pos < 0 || pos + s.length > b.length) return false;
        for (int i = 0; i < s.length; i++) if (b[pos + i] != s[i]) return false;
        return true;
    }
}
