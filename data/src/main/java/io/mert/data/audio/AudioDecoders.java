package io.mert.data.audio;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;

/**
 * Entry point: reads a file, recognises its format from its content (not its name) and decodes it:
 * WAV, FLAC, Ogg Vorbis, MP3 and Ogg Opus in Java. Anything else, files that use a feature those
 * decoders lack ({@link UnsupportedAudioFeatureException}), and AAC (MP4/M4A or ADTS) go to ffmpeg
 * when it is installed ({@link FfmpegDecoder}); without ffmpeg, AAC-LC is decoded in Java by JAAD
 * ({@link AacDecoder}). Thread-safe.
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
            AudioFormat.MP3, new Mp3Decoder(),
            AudioFormat.OGG_OPUS, new OpusDecoder(),
            AudioFormat.MP4_AAC, new AacDecoder(AudioFormat.MP4_AAC),
            AudioFormat.ADTS_AAC, new AacDecoder(AudioFormat.ADTS_AAC)));

    /**
     * AAC goes to ffmpeg whenever it is available: JAAD, the Java decoder, is a fallback of its own
     * with known defects ({@link AacDecoder}).
     */
    private static final Set<AudioFormat> PREFER_FFMPEG = EnumSet.of(AudioFormat.MP4_AAC, AudioFormat.ADTS_AAC);

    /** Where to send what the Java decoders cannot read (and AAC, which ffmpeg decodes better). */
    public sealed interface Fallback {
        /** {@code $MERT_FFMPEG}, else ffmpeg on the PATH, looked up when a file needs it. */
        record FromEnvironment() implements Fallback {}

        record Ffmpeg(FfmpegDecoder decoder) implements Fallback {}

        /** No fallback: such files fail with an error naming their format. */
        record None() implements Fallback {}
    }

    private AudioDecoders() {}

    public static AudioDecoder forFormat(AudioFormat f) {
        return DECODERS.get(f);
    }

    /** Decodes with the {@linkplain #DEFAULT_MAX_SECONDS default length cap}. */
    public static DecodedAudio decode(Path file) throws IOException {
        return decode(file, DEFAULT_MAX_SECONDS);
    }

    /** Decodes with the ffmpeg fallback {@linkplain Fallback.FromEnvironment from the environment}. */
    public static DecodedAudio decode(Path file, double maxSeconds) throws IOException {
        return decode(file, maxSeconds, new Fallback.FromEnvironment());
    }

    /**
     * @throws UnsupportedAudioFeatureException the content is no format (or uses a feature) decoded here, and
     *                                          there is no ffmpeg; the message names it and what to install
     * @throws AudioFormatException the content is corrupt, truncated or too long, or ffmpeg fails on it
     * @throws IOException          the file cannot be read
     */
    public static DecodedAudio decode(Path file, double maxSeconds, Fallback fallback) throws IOException {
        long size = Files.size(file);
        if (size > MAX_FILE_BYTES) throw new AudioFormatException(file + ": " + size + " bytes is too large to decode (limit 2 GiB)");
        if (size == 0) throw new AudioFormatException(file + ": empty file (0 bytes)");
        byte[] bytes = Files.readAllBytes(file);
        AudioFormat f = AudioFormat.sniff(bytes);
        if (f != null && PREFER_FFMPEG.contains(f)) {
            FfmpegDecoder ffmpeg = ffmpeg(fallback, file);
            if (ffmpeg != null) return ffmpeg.decode(file, maxSeconds, f == AudioFormat.MP4_AAC ? "MP4/M4A audio" : "ADTS AAC");
        }
        String detected;
        if (f != null) {
            try {
                return DECODERS.get(f).decode(file, bytes, maxSeconds);
            } catch (UnsupportedAudioFeatureException e) {
                detected = e.what();
            }
        } else {
            detected = ContentGuess.describe(bytes);
        }
        FfmpegDecoder ffmpeg = ffmpeg(fallback, file);
        if (ffmpeg == null)
            throw new UnsupportedAudioFeatureException(detected, file + ": " + detected + " is not decoded here without ffmpeg (decoded natively: "
                    + NATIVE + "); " + FfmpegDecoder.INSTALL_HINT);
        return ffmpeg.decode(file, maxSeconds, detected);
    }

    private static FfmpegDecoder ffmpeg(Fallback fallback, Path file) throws AudioFormatException {
        if (fallback instanceof Fallback.Ffmpeg x) return x.decoder();
        if (!(fallback instanceof Fallback.FromEnvironment)) return null;
        try {
            return FfmpegDecoder.locate();
        } catch (AudioFormatException e) {
            throw new AudioFormatException(file + ": " + e.getMessage(), e);
        }
    }

    private static final String NATIVE = "WAV, FLAC, Ogg Vorbis, MP3, Ogg Opus; AAC-LC without PNS when ffmpeg is absent";
}
