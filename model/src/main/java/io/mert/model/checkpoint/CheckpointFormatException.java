package io.mert.model.checkpoint;

import java.io.IOException;

/** A checkpoint or tensor file is malformed, truncated, damaged or does not match what the caller expects. */
public class CheckpointFormatException extends IOException {
    public CheckpointFormatException(String message) {
        super(message);
    }

    public CheckpointFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
