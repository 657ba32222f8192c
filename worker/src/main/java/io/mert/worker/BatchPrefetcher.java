package io.mert.worker;

import java.util.ArrayDeque;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Builds the batches of the next {@code depth} steps on one background loader thread while the current
 * step computes, assuming the next steps run at the same rank and world size. A request that does not
 * match what was prefetched (a repeated step after a failure, a new generation with another rank or world
 * size, a rollback, a restore) discards the prefetched batches and builds inline, as with {@code depth} 0:
 * a batch is a pure function of (step, rank, world size), so the result never depends on the prefetch.
 *
 * <p>A build's exception (an unreadable clip in strict mode) is kept with its batch and thrown by the
 * {@link #take} of that step only; a discarded build's exception is dropped, as its step is not run with it.
 * Builds never overlap: an inline build first waits for the loader's build in progress (it is not
 * interrupted, since an interrupted file read would look like an unreadable clip), so the builder need
 * not be thread-safe, only safe to call from one thread after another.
 *
 * <p>Not thread-safe: {@link #take} and {@link #close} are called from the step thread.
 */
final class BatchPrefetcher implements AutoCloseable {

    /** What builds a step's batch: {@link StepBatches#build}. */
    @FunctionalInterface
    interface Builder {
        StepBatches.Built build(long step, int rank, int worldSize);
    }

    private record Key(long step, int rank, int worldSize) {
    }

    private record Pending(Key key, Future<StepBatches.Built> batch) {
    }

    private static final AtomicInteger THREADS = new AtomicInteger();

    private final Builder builder;
    private final int depth;
    private final ExecutorService loader;
    private final ArrayDeque<Pending> pending = new ArrayDeque<>();

    /** @param depth batches built ahead; 0 builds every batch inline in {@link #take} and starts no thread */
    BatchPrefetcher(Builder builder, int depth) {
        if (depth < 0) throw new IllegalArgumentException("prefetch depth " + depth + " < 0");
        this.builder = builder;
        this.depth = depth;
        this.loader = depth == 0 ? null : Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "mert-batch-prefetch-" + THREADS.incrementAndGet());
            t.setDaemon(true); // a session that is never closed must not keep the JVM alive
            return t;
        });
    }

    /**
     * The batch of {@code step} at ({@code rank}, {@code worldSize}): the prefetched one when it matches,
     * else built now. Then queues the builds of the following steps at the same rank and world size.
     *
     * @throws io.mert.data.UnreadableAudioException as {@link StepBatches#build} for this step
     */
    StepBatches.Built take(long step, int rank, int worldSize) {
        Key key = new Key(step, rank, worldSize);
        Pending head = pending.peekFirst();
        Future<StepBatches.Built> mine = null;
        if (head != null && head.key().equals(key)) {
            mine = pending.removeFirst().batch();
        } else {
            discardAll();
        }
        try {
            if (mine == null) return builder.build(step, rank, worldSize);
            return await(mine);
        } finally {
            refill(key);
        }
    }

    /** Batches queued or being built ahead (for tests). */
    int queued() {
        return pending.size();
    }

    private void refill(Key taken) {
        if (loader == null || loader.isShutdown()) return;
        long next = pending.isEmpty() ? taken.step() + 1 : pending.peekLast().key().step() + 1;
        while (pending.size() < depth) {
            Key k = new Key(next++, taken.rank(), taken.worldSize());
            pending.addLast(new Pending(k, loader.submit(() -> builder.build(k.step(), k.rank(), k.worldSize()))));
        }
    }

    /** Drops every prefetched batch; returns once the loader is no longer building any of them. */
    private void discardAll() {
        for (Pending p : pending) p.batch().cancel(false); // not started: never runs
        for (Pending p : pending) {
            try {
                p.batch().get();
            } catch (CancellationException | ExecutionException e) {
                // the step it was built for is not run with it: nothing to report
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for the batch loader", e);
            }
        }
        // cancel(false) on a running build returns at once and get() then throws CancellationException
        // without waiting for it: an empty task behind it on the single loader thread marks its end.
        if (loader != null && !loader.isShutdown() && !pending.isEmpty()) {
            try {
                loader.submit(() -> { }).get();
            } catch (ExecutionException e) {
                throw new IllegalStateException(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for the batch loader", e);
            }
        }
        pending.clear();
    }

    private static StepBatches.Built await(Future<StepBatches.Built> f) {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for the batch loader", e);
        } catch (ExecutionException e) {
            // rethrown as is, so the step sees exactly what an inline build would have thrown
            Throwable c = e.getCause();
            if (c instanceof RuntimeException r) throw r;
            if (c instanceof Error err) throw err;
            throw new IllegalStateException(c);
        }
    }

    /** Stops the loader thread: queued builds are dropped, one in progress is waited for (up to 30 s). */
    @Override
    public void close() {
        if (loader == null) return;
        for (Pending p : pending) p.batch().cancel(false);
        pending.clear();
        loader.shutdown();
        try {
            if (!loader.awaitTermination(30, TimeUnit.SECONDS)) {
                org.slf4j.LoggerFactory.getLogger(BatchPrefetcher.class)
                        .warn("the batch loader thread is still building after 30 s; left to finish on its own (daemon)");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
