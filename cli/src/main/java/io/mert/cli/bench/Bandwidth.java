package io.mert.cli.bench;

/**
 * Allreduce bandwidths as nccl-tests define them (PERFORMANCE.md there): {@code algbw = bytes / time};
 * {@code busbw = algbw * 2 (n - 1) / n}, the rate each rank's link must sustain for a ring allreduce,
 * comparable across rank counts and with a link's (or memory copy's) raw bandwidth.
 */
public final class Bandwidth {

    private Bandwidth() {
    }

    /** Bytes per second for {@code bytes} reduced in {@code seconds}. */
    public static double algorithmic(long bytes, double seconds) {
        if (!(seconds > 0)) throw new IllegalArgumentException("time per operation must be positive, got " + seconds);
        return bytes / seconds;
    }

    public static double bus(long bytes, double seconds, int ranks) {
        if (ranks < 1) throw new IllegalArgumentException("ranks must be at least 1, got " + ranks);
        return algorithmic(bytes, seconds) * 2.0 * (ranks - 1) / ranks;
    }
}
