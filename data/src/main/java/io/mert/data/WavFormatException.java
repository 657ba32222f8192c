package io.mert.data;

import io.mert.data.audio.AudioFormatException;

/** A WAV file that is corrupt, truncated or in an encoding this reader does not support. */
public final class WavFormatException extends AudioFormatException {
    public WavFormatException(String message) {
        super(message);
    }
}
