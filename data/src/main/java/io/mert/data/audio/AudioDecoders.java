package io.mert.data.audio;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.Map;

/**
 * Entry point: reads a file, recognises its format from its content (not its name) and decodes it.
 * Thread-safe.
 */
public final class AudioDecoders {
    /**
     * Default cap on decoded length: 1 hour, above almost any music track. Decoding holds every
     * channel as float (1 h of 48 kHz stereo is 1.4 GB, briefly twice that while the buffer grows).
     */
    public static final double DEFAULT_MAX_SECONDS = 3600;
    private static final long MAX_FILE_BYTES = Integer.MAX_VALUE - 64;

    private static final Map<AudioFormat, AudioDecoder> DECODERS = new EnumMap<>(Map.of(
            AudioFormat.WAV, new WavDecoder(),
            AudioFormat.FLAC, new FlacDecoder(),
            AudioFormat.OGG_VORBIS, new VorbisDecoder(),
            AudioFormat.MP3, new Mp3Decoder()));

    private AudioDecoders() {}

    public static AudioDecoder forFormat(AudioFormat f) {
        return DECODERS.get(f);
    }

    /** Decodes with the {@linkplain #DEFAULT_MAX_SECONDS default length cap}. */
    public static DecodedAudio decode(Path file) throws IOException {
        return decode(file, DEFAULT_MAX_SECONDS);
    }

    /**
     * @throws AudioFormatException the content is no supported format, or is corrupt, truncated or too long
     * @throws IOException          the file cannot be read
     */
    public static DecodedAudio decode(Path file, double maxSeconds) throws IOException {
        long size = Files.size(file);
        if (size > MAX_FILE_BYTES) throw new AudioFormatException(file + ": " + size + " bytes is too large to decode (limit 2 GiB)");
        if (size == 0) throw new AudioFormatException(file + ": empty file (0 bytes)");
        byte[] bytes = Files.readAllBytes(file);
        AudioFormat f = AudioFormat.sniff(bytes);
        if (f == null)
            throw new AudioFormatException(file + ": unrecognised content (" + describe(bytes)
                    + "); supported: WAV (RIFF/WAVE), FLAC, Ogg Vorbis, MP3 (MPEG layer III)");
        return DECODERS.get(f).decode(file, bytes, maxSeconds);
    }

    private static String describe(byte[] b) {
        if (AudioFormat.startsWith(b, 0, "OggS")) return "an Ogg stream that is not Vorbis, e.g. Opus or FLAC-in-Ogg";
        StringBuilder s = new StringBuilder("starts with bytes");
        for (int i = 0; i < Math.min(8, b.length); i++) s.append(String.format(" %02x", b[i] & 0xFF));
        return s.toString();
    }
}
