package io.mert.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.mert.coordinator.CoordinatorSettings;
import io.mert.coordinator.RunListener;
import io.mert.model.config.TrainConfig;
import io.mert.worker.SessionFactories;
import io.mert.worker.StepObserver;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A worker that stays in the cluster but is silent past the step timeout (its thread held for 15 s
 * after one step) is dropped, told so, registers again once it is free and trains with the others
 * again: on a real in-process cluster (Pekko over loopback, Aeron IPC).
 */
class DroppedWorkerReturnsTest {

    @Test
    @Tag("soak") // a 15 s stall and a readmission: about a minute on 2 cores
    void aWorkerDroppedForSilenceRegistersAgainAndIsReadmitted(@TempDir Path work) throws Exception {
        DemoPipeline.Prepared data = DemoPipeline.prepare(work.resolve("data"), 10, 8, 9, System.out);
        Path run = work.resolve("run");
        TrainConfig cfg = SessionFactories.withLabelClasses(TrainConfig.from(DemoPipeline.config(data, run, 2, 10_000, 16000)
                .withOverrides(List.of("dataset.global_batch_size=4", "checkpoint.save_interval_updates=100000",
                        "distributed_training.step_timeout_s=6"))));
        RunSetup.startNewRun(run, cfg);
        Path metrics = run.resolve("metrics.jsonl"), events = run.resolve("events.jsonl");
        AtomicBoolean stalled = new AtomicBoolean();
        StepObserver stallOnce = (step, worldSize, timings, allreduceBytes) -> {
            if (step >= 2 && stalled.compareAndSet(false, true)) {
                try {
                    Thread.sleep(15_000); // the worker actor's thread: no reply, no message handled meanwhile
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
        try (LocalCluster cluster = LocalCluster.start(CoordinatorSettings.fresh(cfg, run, RunSetup.datasetSize(cfg)), 1,
                RunListener.NONE)) {
            cluster.addWorker(stallOnce); // local-1
            JsonNode lost = MetricsLog.await(events, 1, e -> is(e, "worker_lost", "local-1"), () -> true, "local-1 dropped");
            assertTrue(lost.get("reason").asText().startsWith("no reply within 6 s"), lost.toString());
            MetricsLog.await(events, 2, e -> is(e, "worker_registered", "local-1"), () -> true, "local-1 registering again");
            JsonNode back = MetricsLog.await(events, 1, e -> e.get("event").asText().equals("generation_started")
                    && e.get("world_size").asInt() == 2 && e.get("time_ms").asLong() > lost.get("time_ms").asLong(),
                    () -> true, "a generation with local-1 again");
            long g = back.get("generation").asLong();
            // a step is recorded only when both ranks report the same parameter checksum
            MetricsLog.await(metrics, 2, m -> m.get("generation").asLong() >= g && m.get("world_size").asInt() == 2,
                    () -> true, "2 steps with local-1 again");
            cluster.stop("test: local-1 is back");
            cluster.await(Duration.ofMinutes(1));
        }
    }

    private static boolean is(JsonNode event, String name, String worker) {
        return event.get("event").asText().equals(name) && event.has("worker") && event.get("worker").asText().equals(worker);
    }
}
