package io.mert.cli.bench;

import java.util.Arrays;

/** Seconds of each timed trial (the slowest rank's) of {@code iterations} operations on {@code bytes}. */
public record Timings(long bytes, int iterations, double[] trialSeconds) {

    public Timings {
        if (trialSeconds.length == 0) throw new IllegalArgumentException("no trials for " + bytes + " bytes");
        trialSeconds = trialSeconds.clone();
    }

    /** Median over trials of the time per operation: robust to one trial disturbed by another process. */
    public double secondsPerOp() {
        double[] s = trialSeconds.clone();
        Arrays.sort(s);
        int n = s.length;
        double median = n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
        return median / iterations;
    }

    /** (slowest - fastest) / median trial: how much the machine disturbed this measurement. */
    public double spread() {
        double min = Arrays.stream(trialSeconds).min().orElseThrow(), max = Arrays.stream(trialSeconds).max().orElseThrow();
        return (max - min) / (secondsPerOp() * iterations);
    }
}
