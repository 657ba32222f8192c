package io.mert.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mert.coordinator.CoordinatorSettings;
import io.mert.coordinator.RunListener;
import io.mert.model.config.TrainConfig;
import io.mert.worker.SessionFactories;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** A worker that joins mid-run is admitted at a step boundary with the others' exact state. */
class WorkerJoinTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void aJoiningWorkerGetsTheRunningStateAndAllChecksumsAgree(@TempDir Path work) throws Exception {
        DemoPipeline.Prepared data = DemoPipeline.prepare(work.resolve("data"), 10, 8, 9, System.out);
        Path run = work.resolve("run");
        TrainConfig cfg = SessionFactories.withLabelClasses(TrainConfig.from(DemoPipeline.config(data, run, 1, 10_000, 16000)
                .withOverrides(List.of("dataset.global_batch_size=4", "checkpoint.save_interval_updates=100000"))));
        RunSetup.startNewRun(run, cfg);
        Path metrics = run.resolve("metrics.jsonl");
        try (LocalCluster cluster = LocalCluster.start(CoordinatorSettings.fresh(cfg, run, RunSetup.datasetSize(cfg)), 1,
                RunListener.NONE)) {
            MetricsLog.await(metrics, 3, m -> true, () -> true, "3 steps");
            cluster.addWorker();
            // the coordinator records a step only when every rank reports the same parameter checksum
            MetricsLog.await(metrics, 3, m -> m.get("world_size").asInt() == 2, () -> true, "3 steps with the joiner");
            cluster.stop("test: the joiner has trained");
            cluster.await(Duration.ofMinutes(1));
        }
        String events = Files.readString(run.resolve("events.jsonl"));
        assertTrue(events.contains("\"checkpoint_saved\""), "the joiner's state comes from a checkpoint at the boundary: " + events);
        assertFalse(events.contains("\"rollback\""), "no divergence: " + events);
        JsonNode first = null;
        for (String line : Files.readAllLines(metrics)) {
            JsonNode m = JSON.readTree(line);
            if (m.get("world_size").asInt() == 2) {
                first = m;
                break;
            }
        }
        assertNotNull(first);
        assertTrue(first.get("generation").asInt() >= 2);
    }
}
