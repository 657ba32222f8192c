package io.mert.cli;

import com.fasterxml.jackson.databind.JsonNode;
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

/**
 * {@code dataset.prefetch_batches} does not change what is trained: the same run with batches built
 * inline (0) and built ahead on a loader thread (2) has bit-identical losses and parameter checksums at
 * every step, across a worker joining mid-run (the world size goes from 1 to 2, so the batches the first
 * worker built ahead for world size 1 are discarded). Real in-process cluster (embedded media driver,
 * Pekko over loopback, real model and audio). Afterwards no loader thread is left running.
 */
class PrefetchExactnessTest {

    private static final int STEPS = 5;
    private static final int HELD_STEP = 1; // 0-based: the joiner is admitted after it, at boundary 2

    @Test
    void prefetchingChangesNoLossAndNoParameterAcrossAJoin(@TempDir Path work) throws Exception {
        DemoPipeline.Prepared data = DemoPipeline.prepare(work.resolve("data"), 10, 8, 9, System.out);
        List<JsonNode> inline = runWithAJoin(data, work.resolve("inline"), 0);
        List<JsonNode> ahead = runWithAJoin(data, work.resolve("ahead"), 2);

        assertEquals(STEPS, inline.size());
        assertEquals(STEPS, ahead.size());
        for (int i = 0; i < STEPS; i++) {
            JsonNode a = inline.get(i), b = ahead.get(i);
            String where = "step " + (i + 1) + ": " + a + " vs " + b;
            assertEquals(a.get("world_size").asInt(), b.get("world_size").asInt(), "both runs admit the joiner at the same boundary: " + where);
            assertEquals(a.get("param_checksum").asText(), b.get("param_checksum").asText(), where);
            assertEquals(a.get("loss").asDouble(), b.get("loss").asDouble(), 0.0, where);
            assertEquals(a.get("sample_digest").asText(), b.get("sample_digest").asText(), where);
        }
        assertEquals(1, ahead.get(HELD_STEP).get("world_size").asInt());
        assertEquals(2, ahead.get(HELD_STEP + 1).get("world_size").asInt(), "the join changed the world size mid-run");

        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (loaderThreads() > 0 && System.nanoTime() < deadline) Thread.sleep(50);
        assertEquals(0, loaderThreads(), "every worker's loader thread ended with its session");
    }

    private static List<JsonNode> runWithAJoin(DemoPipeline.Prepared data, Path run, int prefetch) throws Exception {
        TrainConfig cfg = SessionFactories.withLabelClasses(TrainConfig.from(DemoPipeline.config(data, run, 1, STEPS, 16000)
                .withOverrides(List.of("dataset.global_batch_size=4", "checkpoint.save_interval_updates=100000",
                        "dataset.prefetch_batches=" + prefetch))));
        assertEquals(prefetch, cfg.prefetchBatches());
        RunSetup.startNewRun(run, cfg);
        Path metrics = run.resolve("metrics.jsonl"), events = run.resolve("events.jsonl");
        // The first worker holds a step until the joiner has registered, so both runs change world size at
        // the same boundary (as in WorkerJoinTest).
        io.mert.worker.StepObserver holdForTheJoiner = (step, worldSize, timings, bytes) -> {
            if (step != HELD_STEP) return;
            long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
            try {
                while (System.nanoTime() < deadline
                        && !(Files.exists(events) && Files.readString(events).contains("\"worker\":\"local-1\""))) {
                    Thread.sleep(50);
                }
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        };
        try (LocalCluster cluster = LocalCluster.start(CoordinatorSettings.fresh(cfg, run, RunSetup.datasetSize(cfg)),
                List.of(holdForTheJoiner), RunListener.NONE)) {
            MetricsLog.await(metrics, 1, m -> true, () -> true, "1 step");
            cluster.addWorker();
            LocalCluster.Outcome o = cluster.await(Duration.ofMinutes(5));
            assertTrue(o.success(), o.failure());
        }
        String all = Files.readString(events);
        assertFalse(all.contains("\"rollback\""), "no divergence between the ranks: " + all);
        return MetricsLog.read(metrics);
    }

    private static long loaderThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && t.getName().startsWith("mert-batch-prefetch-")).count();
    }
}
