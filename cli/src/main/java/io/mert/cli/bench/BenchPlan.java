package io.mert.cli.bench;

import java.util.ArrayList;
import java.util.List;

/**
 * What to time for each size: {@code warmup} untimed operations, then {@code trials} loops of
 * {@code iterations} operations. Iterations shrink with the size so that every trial moves about
 * {@code bytesPerTrial}: many short operations at 4 KiB (latency), a few at 64 MiB (bandwidth).
 * Every participant (our ranks, Gloo's) runs the same plan.
 */
public record BenchPlan(List<Step> steps, int trials) {

    public record Step(long bytes, int iterations, int warmup) {
    }

    public BenchPlan {
        if (steps.isEmpty()) throw new IllegalArgumentException("no sizes to benchmark");
        if (trials < 1) throw new IllegalArgumentException("trials must be at least 1, got " + trials);
        steps = List.copyOf(steps);
    }

    /**
     * @param fixedIterations iterations for every size, or 0 to derive them from {@code bytesPerTrial}
     */
    public static BenchPlan of(List<Long> sizes, long bytesPerTrial, int minIterations, int maxIterations,
                               int fixedIterations, int trials) {
        List<Step> steps = new ArrayList<>();
        for (long size : sizes) {
            if (size <= 0 || size % Float.BYTES != 0 || size > Integer.MAX_VALUE - 64) {
                throw new IllegalArgumentException("size " + size + " must be a positive multiple of 4 bytes below 2 GiB "
                        + "(the allreduce sums float32)");
            }
            int iterations = fixedIterations > 0 ? fixedIterations
                    : (int) Math.max(minIterations, Math.min(maxIterations, (bytesPerTrial + size - 1) / size));
            steps.add(new Step(size, iterations, Math.max(2, iterations / 5)));
        }
        return new BenchPlan(steps, trials);
    }

    public long largest() {
        return steps.stream().mapToLong(Step::bytes).max().orElseThrow();
    }

    /** The plan as BYTES:ITERS:WARMUP,... for the peer script. */
    public String encode() {
        StringBuilder b = new StringBuilder();
        for (Step s : steps) {
            if (!b.isEmpty()) b.append(',');
            b.append(s.bytes()).append(':').append(s.iterations()).append(':').append(s.warmup());
        }
        return b.toString();
    }

    public static BenchPlan decode(String text, int trials) {
        List<Step> steps = new ArrayList<>();
        for (String item : text.split(",")) {
            String[] p = item.split(":");
            if (p.length != 3) throw new IllegalArgumentException("plan item '" + item + "' is not BYTES:ITERS:WARMUP");
            steps.add(new Step(Long.parseLong(p[0]), Integer.parseInt(p[1]), Integer.parseInt(p[2])));
        }
        return new BenchPlan(steps, trials);
    }
}
