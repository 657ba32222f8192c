package io.mert.data;

import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * A training clip's audio cannot be used: the file is missing, truncated, corrupt, or no longer
 * matches the manifest (sample rate, length). Found when the clip is first read, which may be in the
 * middle of a run; names the manifest entry so the caller can skip it or stop with a clear message.
 */
public final class UnreadableAudioException extends UncheckedIOException {

    private final int index;
    private final String path;

    public UnreadableAudioException(int index, String path, IOException cause) {
        super(cause.getMessage(), cause);
        this.index = index;
        this.path = path;
    }

    /** Usable index (the shard plan's index space) of the entry. */
    public int index() {
        return index;
    }

    /** The entry's path as the manifest spells it (relative to the audio root). */
    public String path() {
        return path;
    }

    /** Why it cannot be used (the reader's message, which names the file). */
    public String reason() {
        return getCause().getMessage();
    }
}
