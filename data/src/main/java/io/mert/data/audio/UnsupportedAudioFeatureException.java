package io.mert.data.audio;

/**
 * A well-formed file that uses something the pure-Java decoders here cannot decode (an Opus channel
 * mapping family other than 0 or 1, an AAC profile JAAD lacks, ALAC in MP4...). Unlike a corrupt
 * file, ffmpeg may still decode it: {@link AudioDecoders} retries through {@link FfmpegDecoder}.
 */
public class UnsupportedAudioFeatureException extends AudioFormatException {
    private final String what;

    /** @param what the format and feature, e.g. "AAC in MP4 with profile HE-AAC v2", for messages */
    public UnsupportedAudioFeatureException(String file, String what) {
        super(file + ": " + what + " is not decoded natively");
        this.what = what;
    }

    public String what() { return what; }
}
