package io.mert.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.mert.coordinator.CoordinatorSettings;
import io.mert.coordinator.RunListener;
import io.mert.model.config.Precision;
import io.mert.model.config.TrainConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code common.fp16} on a real two-worker cluster: half-precision products with a dynamic loss scale. The first scale
 * (2^11) is above what the tiny model's gradients on the demo corpus take in half (a run here overflowed at 2048, 1024, 512 and 256
 * and trained at 512 and 128), so the run must meet
 * overflows: each one skips its update on every worker alike (the parameters stay as they were) and halves the scale,
 * and quiet windows of two updates double it again, as fairseq's scaler does. A stop after the first checkpoint and a
 * resume must end with the same parameters, optimizer state and loss scale as the uninterrupted run.
 */
class MixedPrecisionTrainingTest {

    private static final int N = 4;
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void fp16SkipsOverflowingUpdatesAdjustsTheScaleAndResumesExactly(@TempDir Path work) throws Exception {
        DemoPipeline.Prepared data = DemoPipeline.prepare(work.resolve("data"), 6, 8, 13, System.out);
        Path straight = work.resolve("straight");
        TrainConfig cfg = config(data, straight);
        assertEquals(Precision.FP16, cfg.precision());
        RunSetup.startNewRun(straight, cfg);
        int size = RunSetup.datasetSize(cfg);
        LocalCluster.Outcome o = LocalCluster.run(CoordinatorSettings.fresh(cfg, straight, size), 2, RunListener.NONE, Duration.ofMinutes(8));
        assertTrue(o.success(), String.valueOf(o.failure()));
        String events = Files.readString(straight.resolve("events.jsonl"));
        assertFalse(events.contains("\"rollback\"") || events.contains("\"step_failed\""), events);

        List<JsonNode> m = MetricsLog.read(straight.resolve("metrics.jsonl"));
        assertEquals(2 * N, m.size());
        assertEquals(2048.0, m.get(0).get("loss_scale").asDouble(), "common.fp16_init_scale");
        int overflows = 0, applied = 0;
        for (int i = 0; i < m.size(); i++) {
            JsonNode s = m.get(i);
            boolean overflow = s.get("overflow").asBoolean();
            if (overflow) {
                overflows++;
                assertEquals(0.0, s.get("grad_norm").asDouble(), "an overflowing step reports no norm, as fairseq");
                if (i > 0) assertEquals(m.get(i - 1).get("param_checksum"), s.get("param_checksum"), "step " + (i + 1) + " changed nothing");
            } else {
                applied++;
                assertTrue(s.get("grad_norm").asDouble() > 0 && Double.isFinite(s.get("grad_norm").asDouble()));
                if (i > 0) assertNotEquals(m.get(i - 1).get("param_checksum"), s.get("param_checksum"), "step " + (i + 1) + " updated");
            }
            if (i + 1 < m.size()) {
                double now = s.get("loss_scale").asDouble(), next = m.get(i + 1).get("loss_scale").asDouble();
                if (overflow) assertEquals(now / 2, next, "an overflow halves the scale (step " + (i + 1) + ")");
                else assertTrue(next == now || next == 2 * now, "after an applied update the scale stays or doubles: " + now + " -> " + next);
            }
        }
        StringBuilder scales = new StringBuilder();
        for (JsonNode s : m) scales.append(' ').append(s.get("loss_scale").asDouble()).append(s.get("overflow").asBoolean() ? "!" : "");
        assertTrue(overflows >= 1 && applied >= 2, overflows + " overflows, " + applied + " applied updates; scales (! = overflow):" + scales);

        Path interrupted = work.resolve("interrupted");
        TrainConfig cfg2 = config(data, interrupted);
        RunSetup.startNewRun(interrupted, cfg2);
        assertFalse(StopAtFirstCheckpoint.train(cfg2, interrupted, size).success(), "the first half must have been stopped");
        CoordinatorSettings resumed = ResumeCommand.settingsFor(interrupted);
        assertEquals(N, resumed.startStep());
        assertTrue(LocalCluster.run(resumed, 2, TensorBoardLog.open(interrupted, RunListener.NONE), Duration.ofMinutes(8)).success());

        Path a = straight.resolve("checkpoints/step-00000000" + 2 * N), b = interrupted.resolve("checkpoints/step-00000000" + 2 * N);
        for (String file : List.of("model.safetensors", "optimizer.safetensors")) {
            assertArrayEquals(Files.readAllBytes(a.resolve(file)), Files.readAllBytes(b.resolve(file)), file + " differs after the resume");
        }
        JsonNode scalerA = JSON.readTree(a.resolve("trainer_state.json").toFile()).path("extra").path("loss_scaler");
        JsonNode scalerB = JSON.readTree(b.resolve("trainer_state.json").toFile()).path("extra").path("loss_scaler");
        assertTrue(scalerA.has("loss_scale") && scalerA.get("iter").asLong() > 0, scalerA.toString());
        assertEquals(scalerA, scalerB, "the loss scaler continues across the resume");
    }

    @Test
    void aLossScaleFallingToTheMinimumStopsTheRun(@TempDir Path work) throws Exception {
        DemoPipeline.Prepared data = DemoPipeline.prepare(work.resolve("data"), 6, 8, 13, System.out);
        Path run = work.resolve("run");
        // 2048 overflows on the first step (see above); halving it reaches common.min_loss_scale, as fairseq's
        // FloatingPointError: the run ends at once, reported as diverged, with nothing applied
        TrainConfig cfg = TrainConfig.from(DemoPipeline.config(data, run, 2, 2 * N, 16000).withOverrides(List.of(
                "dataset.global_batch_size=4", "common.fp16=true", "common.fp16_init_scale=2048", "common.min_loss_scale=1024")));
        RunSetup.startNewRun(run, cfg);
        LocalCluster.Outcome o = LocalCluster.run(CoordinatorSettings.fresh(cfg, run, RunSetup.datasetSize(cfg)), 2,
                RunListener.NONE, Duration.ofMinutes(5));
        assertFalse(o.success());
        Path metrics = run.resolve("metrics.jsonl");
        assertTrue(!Files.exists(metrics) || Files.readString(metrics).isBlank(), "no step was completed");
        assertTrue(o.failure().contains("minimum loss scale reached (1024.0)") && o.failure().contains("mert resume"), o.failure());
        String events = Files.readString(run.resolve("events.jsonl"));
        assertTrue(events.contains("\"training_diverged\""), events);
        assertFalse(events.contains("\"worker_lost\""), "no worker is blamed: " + events);
    }

    private static TrainConfig config(DemoPipeline.Prepared data, Path run) {
        return TrainConfig.from(DemoPipeline.config(data, run, 2, 2 * N, 16000).withOverrides(List.of(
                "dataset.global_batch_size=4", "checkpoint.save_interval_updates=" + N, "common.fp16=true",
                "common.fp16_init_scale=2048", "common.fp16_scale_window=2")));
    }
}
