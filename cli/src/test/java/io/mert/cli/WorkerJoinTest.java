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
            awaitLines(metrics, 3, m -> true);
            cluster.addWorker();
            // the coordinator records a step only when every rank reports the same parameter checksum
            awaitLines(metrics, 3, m -> m.get("world_size").asInt() == 2);
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

    private static void awaitLines(Path metrics, int count, java.util.function.Predicate<JsonNode> test) throws Exception {
        long deadline = System.nanoTime() + Duration.ofMinutes(4).toNanos();
        while (true) {
            int n = 0;
            if (Files.exists(metrics)) {
                for (String line : Files.readAllLines(metrics)) {
                    try {
                        if (!line.isBlank() && test.test(JSON.readTree(line))) n++;
                    } catch (com.fasterxml.jackson.core.JsonProcessingException partialLastLine) {
                        // the line being written
                    }
                }
            }
            if (n >= count) return;
            assertTrue(System.nanoTime() < deadline, "waited for " + count + " matching steps");
            Thread.sleep(100);
        }
    }
}
