package io.mert.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mert.allreduce.EmbeddedDriver;
import io.mert.coordinator.CoordinatorSettings;
import io.mert.coordinator.RunListener;
import io.mert.worker.WorkerSettings;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A whole cluster in one JVM: a coordinator node and N worker nodes, each its own Pekko actor
 * system talking Artery TCP over loopback, sharing one embedded Aeron media driver (IPC).
 * Used by {@code mert demo}, {@code mert train --local-workers N} and {@code mert resume}.
 */
final class LocalCluster implements AutoCloseable {

    /** Outcome of a run: the number of completed steps, or the failure reason. */
    record Outcome(boolean success, long completedSteps, String failure) {
    }

    private final EmbeddedDriver driver;
    private final int port;
    private final CoordinatorNode coordinator;
    private final List<WorkerNode> workers = new ArrayList<>();
    private final CompletableFuture<Outcome> outcome = new CompletableFuture<>();

    private LocalCluster(CoordinatorSettings settings, int workerCount, RunListener listener) {
        this(settings, java.util.Collections.nCopies(workerCount, io.mert.worker.StepObserver.NONE), listener);
    }

    private LocalCluster(CoordinatorSettings settings, List<io.mert.worker.StepObserver> observers, RunListener listener) {
        int workerCount = observers.size();
        if (workerCount < 1) throw new IllegalArgumentException("a local cluster needs at least one worker");
        Threads.configureForWorkers(workerCount);
        port = freePort();
        driver = EmbeddedDriver.launch();
        coordinator = CoordinatorNode.start("127.0.0.1", port, settings, new Tracking(listener));
        coordinator.whenTerminated(() -> outcome.complete(new Outcome(false, -1, "the coordinator stopped unexpectedly")));
        for (io.mert.worker.StepObserver o : observers) addWorker(o);
    }

    /** Starts one more worker node; it joins the running cluster and is admitted at a step boundary. */
    synchronized void addWorker() {
        addWorker(io.mert.worker.StepObserver.NONE);
    }

    /** As {@link #addWorker()}, with {@code observer} told about (and run on the thread of) each step it completes. */
    synchronized void addWorker(io.mert.worker.StepObserver observer) {
        int i = workers.size();
        workers.add(WorkerNode.start("127.0.0.1", 0, "127.0.0.1:" + port, driver.aeronDirectoryName(),
                new WorkerSettings("local-" + i, WorkerNode.ipcEndpoint(1001 + i), "cpu", observer)));
    }

    static LocalCluster start(CoordinatorSettings settings, int workers, RunListener listener) {
        return new LocalCluster(settings, workers, listener);
    }

    /** A cluster of one worker per observer, each told about (on its own thread) every step it completes. */
    static LocalCluster start(CoordinatorSettings settings, List<io.mert.worker.StepObserver> workerObservers, RunListener listener) {
        return new LocalCluster(settings, workerObservers, listener);
    }

    /** Starts a cluster, waits for the run to end and shuts everything down. */
    static Outcome run(CoordinatorSettings settings, int workers, RunListener listener, Duration timeout) {
        try (LocalCluster c = start(settings, workers, listener)) {
            return c.await(timeout);
        }
    }

    /** Terminates worker {@code i}'s node, possibly in the middle of a step (its session and ring go with it). */
    void stopWorker(int i) {
        workers.get(i).close();
    }

    /** Asks the coordinator to end the run (workers are told to shut down). */
    void stop(String reason) {
        coordinator.stop(reason);
    }

    Outcome await(Duration timeout) {
        try {
            return outcome.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            stop("time limit of " + timeout.toSeconds() + " s reached");
            return new Outcome(false, -1, "the run did not finish within " + timeout.toSeconds() + " s");
        } catch (Exception e) {
            return new Outcome(false, -1, e.toString());
        }
    }

    @Override
    public void close() {
        if (!coordinator.awaitTermination(Duration.ofSeconds(30))) coordinator.close();
        for (WorkerNode n : workers) {
            if (!n.awaitTermination(Duration.ofSeconds(20))) n.close();
        }
        coordinator.close();
        driver.close();
    }

    static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException("no free TCP port on loopback", e);
        }
    }

    /** Forwards to the caller's listener and completes the outcome when the run ends. */
    private final class Tracking implements RunListener {
        private final RunListener delegate;

        Tracking(RunListener delegate) {
            this.delegate = delegate;
        }

        @Override
        public void onStep(ObjectNode metrics) {
            delegate.onStep(metrics);
        }

        @Override
        public void onEvent(String event, ObjectNode details) {
            delegate.onEvent(event, details);
        }

        @Override
        public void onFinished(long completedSteps) {
            delegate.onFinished(completedSteps);
            outcome.complete(new Outcome(true, completedSteps, null));
        }

        @Override
        public void onFailed(String reason) {
            delegate.onFailed(reason);
            outcome.complete(new Outcome(false, -1, reason));
        }
    }
}
