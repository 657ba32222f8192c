package io.mert.data.audio;

import java.io.IOException;

/**
 * An audio file that is corrupt, truncated, too long, or in a format or encoding no decoder here
 * supports. The message names the file and the problem.
 */
public class AudioFormatException extends IOException {
    public AudioFormatException(String message) {
        super(message);
    }

    public AudioFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
