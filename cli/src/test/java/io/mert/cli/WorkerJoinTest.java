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
        TrainConfig cfg = SessionFactories.withLabelClasses(TrainConfig.from(DemoPipeline.config(data, run, 1, 8, 16000)
                .withOverrides(List.of("dataset.global_batch_size=4", "checkpoint.save_interval_updates=100"))));
        RunSetup.startNewRun(run, cfg);
        LocalCluster[] cluster = new LocalCluster[1];
        RunListener joinAtStep3 = new RunListener() {
            @Override
            public void onStep(ObjectNode m) {
                if (m.get("step").asInt() == 3) cluster[0].addWorker();
            }
        };
        synchronized (cluster) {
            cluster[0] = LocalCluster.start(CoordinatorSettings.fresh(cfg, run, RunSetup.datasetSize(cfg)), 1, joinAtStep3);
        }
        try (LocalCluster c = cluster[0]) {
            assertTrue(c.await(Duration.ofMinutes(5)).success());
        }
        List<String> steps = Files.readAllLines(run.resolve("metrics.jsonl"));
        assertEquals(8, steps.size());
        JsonNode last = JSON.readTree(steps.get(7));
        assertEquals(2, last.get("world_size").asInt(), "the joiner trains in the last steps");
        assertTrue(last.get("generation").asInt() >= 2);
        // the coordinator only completes a step when every rank reports the same parameter checksum,
        // and the joiner loaded the checkpoint written at the boundary where it was admitted
        String events = Files.readString(run.resolve("events.jsonl"));
        assertTrue(events.contains("\"checkpoint_saved\""), events);
        assertFalse(events.contains("\"rollback\""), "no divergence: " + events);
    }
}
