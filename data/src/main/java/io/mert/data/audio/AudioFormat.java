package io.mert.data.audio;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * The container/codec pairs this package decodes in Java, recognised by their first bytes, and
 * {@link #FFMPEG} for anything else that the ffmpeg fallback decoded.
 */
public enum AudioFormat {
    WAV("wav"), FLAC("flac"), OGG_VORBIS("ogg"), MP3("mp3"), OGG_OPUS("opus"),
    /** AAC in an MP4/M4A container (other codecs in MP4 go to ffmpeg). */
    MP4_AAC("m4a"),
    /** AAC as a bare ADTS stream (.aac). */
    ADTS_AAC("aac"),
    /** Any other format, decoded by {@link FfmpegDecoder}; never the result of {@link #sniff}. */
    FFMPEG("");

    /** Other extensions of the native formats, picked up by {@code prepare-manifest}. */
    private static final List<String> ALIASES = List.of("oga", "mp4", "m4b");
    /** Extensions of formats only the ffmpeg fallback decodes. */
    public static final List<String> FFMPEG_EXTENSIONS = List.of("wv", "ape", "wma", "aif", "aiff", "mka", "webm", "ac3", "mp2", "caf");

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
        for (AudioFormat f : values()) if (f != FFMPEG && f.extension.equals(e)) return f;
        return null;
    }

    /** "wav, flac, ogg, mp3, opus, m4a, aac", the formats decoded in Java, for messages. */
    public static String extensions() {
        return String.join(", ", Arrays.stream(values()).filter(f -> f != FFMPEG).map(AudioFormat::extension).toList());
    }

    /**
     * Every extension a file may have to be picked up: the native formats' ({@link #extensions()}),
     * their aliases (oga, mp4, m4b) and {@link #FFMPEG_EXTENSIONS}.
     */
    public static List<String> knownExtensions() {
        return Stream.of(Arrays.stream(values()).filter(f -> f != FFMPEG).map(AudioFormat::extension), ALIASES.stream(),
                FFMPEG_EXTENSIONS.stream()).flatMap(x -> x).toList();
    }

    /** The extension lower case without its dot when {@link #knownExtensions() known}, else null. */
    public static String knownExtension(String ext) {
        String e = ext.toLowerCase(Locale.ROOT);
        if (e.startsWith(".")) e = e.substring(1);
        return knownExtensions().contains(e) ? e : null;
    }

    /**
     * Recognises a format from the start of a file: "RIFF....WAVE", "fLaC", an Ogg page whose first
     * packet is a Vorbis or Opus identification header, an MP4 "ftyp" box, an MPEG audio layer III
     * frame sync, or two consecutive ADTS frame headers. An ID3v2 tag in front (common on MP3,
     * sometimes on FLAC and ADTS) is skipped first. Returns null when nothing matches.
     */
    public static AudioFormat sniff(byte[] b) {
        if (startsWith(b, 0, "RIFF") && startsWith(b, 8, "WAVE")) return WAV;
        if (startsWith(b, 0, "OggS")) {
            int body = firstOggBody(b);
            if (body < 0) return null;
            if (b.length >= body + 7 && b[body] == 1 && startsWith(b, body + 1, "vorbis")) return OGG_VORBIS;
            return startsWith(b, body, "OpusHead") ? OGG_OPUS : null;
        }
        if (startsWith(b, 4, "ftyp")) return MP4_AAC;
        int start = Id3v2.skip(b);
        if (startsWith(b, start, "fLaC")) return FLAC;
        int pos = start;
        // stray zero bytes between an ID3 tag and the first frame are common
        while (start > 0 && pos < b.length && pos < start + 4096 && b[pos] == 0) pos++;
        if (MpegHeader.parse(b, pos) != null) return MP3;
        if (AdtsHeader.startsStream(b, pos)) return ADTS_AAC;
        return null;
    }

    /** Where the first packet of the first Ogg page (27-byte header + segment table) starts, or -1. */
    static int firstOggBody(byte[] b) {
        if (b.length < 27) return -1;
        return 27 + (b[26] & 0xFF);
    }

    static boolean startsWith(byte[] b, int pos, String ascii) {
        byte[] s = ascii.getBytes(StandardCharsets.ISO_8859_1);
        if (pos < 0 || pos + s.length > b.length) return false;
        for (int i = 0; i < s.length; i++) if (b[pos + i] != s[i]) return false;
        return true;
    }
}
