package io.mert.data;

/**
 * Told how far a long data job is, after each item (file, clip). The data module only reports;
 * drawing bars or writing log lines is the caller's business.
 */
@FunctionalInterface
public interface ProgressListener {

    /** {@code done} of {@code total} items of {@code phase} (e.g. "convert", "labels train") are finished. */
    void progress(String phase, long done, long total);

    ProgressListener NONE = (phase, done, total) -> {
    };
}
