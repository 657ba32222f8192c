package io.mert.data;

import java.io.IOException;

/** A WAV file that is corrupt, truncated or in an encoding this reader does not support. */
public final class WavFormatException extends IOException {
    public WavFormatException(String message) {
        super(message);
    }
}
