package io.mert.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.mert.coordinator.CoordinatorSettings;
import io.mert.coordinator.RunListener;
import io.mert.model.config.TrainConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code distributed_training.allreduce_wire: bf16} on a real two-worker cluster (Pekko over loopback,
 * Aeron IPC): the run trains, and the workers' parameters stay bit-identical step after step (the
 * coordinator compares every worker's parameter checksum and gradient norm after each step and rolls
 * back on a mismatch, so a run without a rollback or failed step proves it). The first step's loss is
 * loss and every step's count of supervised frames travel in the float32 tail, so they equal a
 * float32-wire run's exactly, while the parameters differ from that run's (the gradients were rounded).
 */
class Bf16WireTrainingTest {

    private static final int STEPS = 3;

    @Test
    void twoWorkersTrainWithABf16WireAndStayIdentical(@TempDir Path work) throws Exception {
        DemoPipeline.Prepared data = DemoPipeline.prepare(work.resolve("data"), 6, 8, 11, System.out);
        JsonNode[] fp32 = train(data, work.resolve("fp32"), "fp32");
        JsonNode[] bf16 = train(data, work.resolve("bf16"), "bf16");
        assertEquals(fp32[0].get("loss").asDouble(), bf16[0].get("loss").asDouble(), "step 1's loss sum is reduced in the float32 tail, from the same initial parameters");
        for (int i = 0; i < STEPS; i++) {
            // masks do not depend on the parameters: the same count, exact because it travels in the float32 tail
            assertEquals(fp32[i].get("supervised_frames").asLong(), bf16[i].get("supervised_frames").asLong(), "step " + (i + 1));
        }
        // the wire really changed: rounded gradients give other parameters
        assertNotEquals(fp32[STEPS - 1].get("param_checksum").asText(), bf16[STEPS - 1].get("param_checksum").asText());
    }

    private static JsonNode[] train(DemoPipeline.Prepared data, Path run, String wire) throws Exception {
        TrainConfig cfg = TrainConfig.from(DemoPipeline.config(data, run, 2, STEPS, 16000)
                .withOverrides(List.of("dataset.global_batch_size=4", "distributed_training.allreduce_wire=" + wire)));
        assertEquals(wire, cfg.allreduceWire());
        RunSetup.startNewRun(run, cfg);
        LocalCluster.Outcome o = LocalCluster.run(CoordinatorSettings.fresh(cfg, run, RunSetup.datasetSize(cfg)), 2,
                RunListener.NONE, Duration.ofMinutes(5));
        assertTrue(o.success(), wire + ": " + o.failure());
        assertEquals(STEPS, o.completedSteps());
        for (String line : Files.readAllLines(run.resolve("events.jsonl"))) {
            assertFalse(line.contains("\"rollback\"") || line.contains("\"step_failed\""), wire + ": " + line);
        }
        List<JsonNode> metrics = MetricsLog.read(run.resolve("metrics.jsonl"));
        assertEquals(STEPS, metrics.size(), wire);
        return metrics.toArray(JsonNode[]::new);
    }
}
