package io.mert.data.audio;

import java.nio.file.Path;

/**
 * A file in a format, or using a feature, that the Java decoders here cannot decode (an Opus channel
 * mapping family other than 0 or 1, AAC with PNS, ALAC in MP4, WavPack...). Unlike a corrupt file,
 * ffmpeg may still decode it: {@link AudioDecoders} retries through {@link FfmpegDecoder}, and throws
 * this type, with what to install, when there is no ffmpeg.
 */
public class UnsupportedAudioFeatureException extends AudioFormatException {
    private final String what;

    /**
     * @param what    the format and feature, e.g. "Ogg Opus with channel mapping family 2", for messages
     * @param message the whole message, naming the file
     */
    public UnsupportedAudioFeatureException(String what, String message) {
        super(message);
        this.what = what;
    }

    /** "FILE: WHAT is not decoded natively". */
    static UnsupportedAudioFeatureException in(Path file, String what) {
        return new UnsupportedAudioFeatureException(what, file + ": " + what + " is not decoded natively");
    }

    public String what() { return what; }
}
