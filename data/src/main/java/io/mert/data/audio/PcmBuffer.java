package io.mert.data.audio;

import java.nio.file.Path;
import java.util.Arrays;

/**
 * Growable per-channel sample storage with a hard cap on length. Capacity doubles as frames
 * arrive, so memory follows the audio actually decoded, never a length claimed by a header.
 */
final class PcmBuffer {
    private final Path file;
    private final long maxFrames;
    private final double maxSeconds;
    private float[][] data;
    private int frames;

    PcmBuffer(Path file, int channels, int sampleRate, double maxSeconds) {
        this.file = file;
        this.maxSeconds = maxSeconds;
        this.maxFrames = Math.min(Integer.MAX_VALUE - 16, (long) Math.ceil(maxSeconds * sampleRate));
        data = new float[channels][1 << 14];
    }

    int frames() { return frames; }

    int channels() { return data.length; }

    /** Makes room for {@code more} frames after the current end; returns the arrays to write at {@link #frames()}. */
    float[][] reserve(int more) throws AudioFormatException {
        long need = (long) frames + more;
        if (need > maxFrames)
            throw new AudioFormatException(file + ": longer than the limit of " + maxSeconds
                    + " s; split the file or raise the limit");
        if (need > data[0].length) {
            int cap = (int) Math.min(maxFrames, Math.max(need, 2L * data[0].length));
            for (int c = 0; c < data.length; c++) data[c] = Arrays.copyOf(data[c], cap);
        }
        return data;
    }

    void commit(int more) { frames += more; }

    /** Drops frames from the start (decoder delay) and keeps at most {@code keep} after them. */
    float[][] trimmed(long skip, long keep) {
        int from = (int) Math.min(frames, Math.max(0, skip));
        int to = (int) Math.min(frames, from + Math.max(0, keep));
        float[][] out = new float[data.length][];
        for (int c = 0; c < data.length; c++) out[c] = Arrays.copyOfRange(data[c], from, to);
        return out;
    }

    float[][] all() { return trimmed(0, frames); }
}
