package io.mert.cli.bench;

import io.mert.worker.StepBatches;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Times a worker's batch building ({@link StepBatches#build}: shard plan, crops from TrainingClips, labels,
 * CQT targets, span masks, mixup) for consecutive steps, on {@code threads} builders at once, each building
 * whole batches for its own steps, as rank 0 of a world of one.
 */
public final class LoaderBench {

    /**
     * @param firstBatchSeconds the untimed first batch (it builds the CQT kernels for the crop length)
     * @param batchSeconds      wall seconds of each timed batch, as its builder saw it
     * @param wallSeconds       wall seconds of the timed phase, all builders together
     */
    public record Result(double firstBatchSeconds, double[] batchSeconds, double wallSeconds, long samples) {
        public int batches() { return batchSeconds.length; }

        public double medianBatchSeconds() { return StepBenchSide.median(batchSeconds); }

        public double samplesPerSecond() { return samples / wallSeconds; }
    }

    private LoaderBench() {}

    public static Result run(StepBatches batches, int threads, double seconds, int minBatches) throws Exception {
        if (threads < 1) throw new IllegalArgumentException("--loader-threads must be >= 1, got " + threads);
        if (!(seconds > 0)) throw new IllegalArgumentException("--seconds must be > 0, got " + seconds);
        long t0 = System.nanoTime();
        batches.build(0, 0, 1);
        double first = (System.nanoTime() - t0) / 1e9;

        AtomicLong nextStep = new AtomicLong(1);
        AtomicLong samples = new AtomicLong();
        List<Double> times = Collections.synchronizedList(new ArrayList<>());
        long deadline = System.nanoTime() + (long) (seconds * 1e9);
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "loader-bench");
            t.setDaemon(true);
            return t;
        });
        long start = System.nanoTime();
        try {
            List<Future<?>> running = new ArrayList<>();
            for (int i = 0; i < threads; i++) {
                running.add(pool.submit(() -> {
                    while (true) {
                        long step = nextStep.getAndIncrement();
                        // stop at the deadline once the minimum is in (steps are handed out in order)
                        if (System.nanoTime() > deadline && step > minBatches) return null;
                        long b0 = System.nanoTime();
                        StepBatches.Built built = batches.build(step, 0, 1);
                        times.add((System.nanoTime() - b0) / 1e9);
                        samples.addAndGet(built.batch().size());
                    }
                }));
            }
            for (Future<?> f : running) f.get();
        } finally {
            pool.shutdownNow();
        }
        double wall = (System.nanoTime() - start) / 1e9;
        double[] t;
        synchronized (times) {
            t = times.stream().mapToDouble(Double::doubleValue).toArray();
        }
        return new Result(first, t, wall, samples.get());
    }
}
