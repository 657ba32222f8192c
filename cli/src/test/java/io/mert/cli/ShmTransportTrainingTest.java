package io.mert.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.mert.allreduce.ShmAllReduceConfig;
import io.mert.coordinator.CoordinatorSettings;
import io.mert.coordinator.RunListener;
import io.mert.model.config.TrainConfig;
import io.mert.worker.SharedMemoryAllReduces;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code distributed_training.allreduce_transport: shm} on a real two-worker cluster: the workers sum their gradients
 * through {@link io.mert.allreduce.ShmAllReduce}'s files (seen while the run trains, gone after it), and the run is
 * bit-identical to the Aeron ring's, step by step: with two ranks both sum every element as one float32 addition of
 * the same two values, and float addition is commutative.
 */
class ShmTransportTrainingTest {

    private static final int STEPS = 3;

    @Test
    void twoWorkersTrainThroughSharedMemoryExactlyAsThroughTheRing(@TempDir Path work) throws Exception {
        DemoPipeline.Prepared data = DemoPipeline.prepare(work.resolve("data"), 6, 8, 11, System.out);
        JsonNode[] ring = train(data, work.resolve("aeron"), "aeron", null);
        Set<String> seen = ConcurrentHashMap.newKeySet();
        JsonNode[] shm = train(data, work.resolve("shm"), "shm", seen);
        assertTrue(seen.contains("r0") && seen.contains("r1"), "both workers' shared-memory files appeared: " + seen);
        for (int i = 0; i < STEPS; i++) {
            assertEquals(ring[i].get("param_checksum").asText(), shm[i].get("param_checksum").asText(), "step " + (i + 1));
            assertEquals(ring[i].get("loss").asDouble(), shm[i].get("loss").asDouble(), "step " + (i + 1));
        }
    }

    private static JsonNode[] train(DemoPipeline.Prepared data, Path run, String transport, Set<String> seen) throws Exception {
        TrainConfig cfg = TrainConfig.from(DemoPipeline.config(data, run, 2, STEPS, 16000)
                .withOverrides(List.of("dataset.global_batch_size=4", "distributed_training.allreduce_transport=" + transport)));
        RunSetup.startNewRun(run, cfg);
        Path dir = ShmAllReduceConfig.defaults().directory();
        String prefix = "mert-allreduce-" + SharedMemoryAllReduces.session(run.toString(), cfg.configHash()) + "-g";
        AtomicBoolean running = new AtomicBoolean(true);
        Thread watcher = new Thread(() -> {
            while (running.get() && seen != null) {
                try (Stream<Path> files = Files.list(dir)) {
                    files.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(prefix) && n.endsWith(".shm"))
                            .forEach(n -> seen.add(n.substring(n.lastIndexOf('-') + 1, n.length() - 4)));
                    Thread.sleep(20);
                } catch (Exception e) {
                    return;
                }
            }
        });
        watcher.setDaemon(true);
        watcher.start();
        LocalCluster.Outcome o;
        try {
            o = LocalCluster.run(CoordinatorSettings.fresh(cfg, run, RunSetup.datasetSize(cfg)), 2, RunListener.NONE, Duration.ofMinutes(5));
        } finally {
            running.set(false);
            watcher.join();
        }
        assertTrue(o.success(), transport + ": " + o.failure());
        assertEquals(STEPS, o.completedSteps());
        for (String line : Files.readAllLines(run.resolve("events.jsonl"))) {
            assertFalse(line.contains("\"rollback\"") || line.contains("\"step_failed\""), transport + ": " + line);
        }
        // the worker nodes stop asynchronously after the run: their workers delete their files as they stop
        long deadline = System.nanoTime() + 20_000_000_000L;
        List<String> left;
        do {
            try (Stream<Path> files = Files.list(dir)) {
                left = files.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(prefix)).toList();
            }
            if (!left.isEmpty()) Thread.sleep(100);
        } while (!left.isEmpty() && System.nanoTime() < deadline);
        assertEquals(List.of(), left, "the workers deleted their files when they stopped");
        List<JsonNode> metrics = MetricsLog.read(run.resolve("metrics.jsonl"));
        assertEquals(STEPS, metrics.size(), transport);
        return metrics.toArray(JsonNode[]::new);
    }
}
