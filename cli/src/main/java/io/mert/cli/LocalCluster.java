package io.mert.cli;

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

/**
 * A whole cluster in one JVM: a coordinator node and N worker nodes, each its own Pekko actor
 * system talking Artery TCP over loopback, sharing one embedded Aeron media driver (IPC).
 * Used by {@code mert demo}, {@code mert train --local-workers N} and {@code mert resume}.
 */
final class LocalCluster {

    private LocalCluster() {
    }

    /** Outcome of a run: the number of completed steps, or the failure reason. */
    record Outcome(boolean success, long completedSteps, String failure) {
    }

    static Outcome run(CoordinatorSettings settings, int workers, RunListener listener, Duration timeout) {
        if (workers < 1) throw new IllegalArgumentException("a local cluster needs at least one worker");
        Threads.configureForWorkers(workers);
        CompletableFuture<Outcome> outcome = new CompletableFuture<>();
        RunListener tracking = new RunListener() {
            @Override
            public void onStep(com.fasterxml.jackson.databind.node.ObjectNode metrics) {
                listener.onStep(metrics);
            }

            @Override
            public void onEvent(String event, com.fasterxml.jackson.databind.node.ObjectNode details) {
                listener.onEvent(event, details);
            }

            @Override
            public void onFinished(long completedSteps) {
                listener.onFinished(completedSteps);
                outcome.complete(new Outcome(true, completedSteps, null));
            }

            @Override
            public void onFailed(String reason) {
                listener.onFailed(reason);
                outcome.complete(new Outcome(false, -1, reason));
            }
        };
        int port = freePort();
        List<WorkerNode> nodes = new ArrayList<>();
        try (EmbeddedDriver driver = EmbeddedDriver.launch()) {
            CoordinatorNode coordinator = CoordinatorNode.start("127.0.0.1", port, settings, tracking);
            try {
                for (int i = 0; i < workers; i++) {
                    nodes.add(WorkerNode.start("127.0.0.1", 0, "127.0.0.1:" + port, driver.aeronDirectoryName(),
                            new WorkerSettings("local-" + i, WorkerNode.ipcEndpoint(1001 + i), "cpu")));
                }
                try {
                    return outcome.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
                } catch (java.util.concurrent.TimeoutException e) {
                    coordinator.stop("time limit of " + timeout.toSeconds() + " s reached");
                    return new Outcome(false, -1, "the run did not finish within " + timeout.toSeconds() + " s");
                } catch (Exception e) {
                    return new Outcome(false, -1, e.toString());
                }
            } finally {
                coordinator.awaitTermination(Duration.ofSeconds(30));
                for (WorkerNode n : nodes) {
                    if (!n.awaitTermination(Duration.ofSeconds(20))) n.close();
                }
                coordinator.close();
            }
        }
    }

    static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException("no free TCP port on loopback", e);
        }
    }
}
