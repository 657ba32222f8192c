package io.mert.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.mert.coordinator.CoordinatorSettings;
import io.mert.coordinator.RunListener;
import io.mert.model.checkpoint.FloatTensor;
import io.mert.model.checkpoint.SafeTensors;
import io.mert.model.config.TrainConfig;
import io.mert.worker.SessionFactories;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A worker that joins mid-run is admitted at a step boundary with the others' exact state: streamed
 * from a donor over Aeron by default, through a checkpoint with {@code distributed_training.state_transfer=checkpoint}.
 * Real in-process cluster (embedded media driver, Pekko over loopback, real model and audio).
 */
class WorkerJoinTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int STEPS = 10;

    @Test
    void aJoiningWorkerGetsTheStateFromADonorOverAeronAndTheTrajectoryIsUnchanged(@TempDir Path work) throws Exception {
        DemoPipeline.Prepared data = DemoPipeline.prepare(work.resolve("data"), 10, 8, 9, System.out);

        Path joined = work.resolve("joined");
        TrainConfig cfg = config(data, joined, List.of());
        RunSetup.startNewRun(joined, cfg);
        Path metrics = joined.resolve("metrics.jsonl");
        Path eventsFile = joined.resolve("events.jsonl");
        // The first worker holds its third step until the joiner has registered: on a fast machine the tiny
        // run would otherwise end before the second node has even joined the cluster (seen in CI).
        io.mert.worker.StepObserver holdForTheJoiner = (step, worldSize, timings, bytes) -> {
            if (step != 2) return;
            long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
            try {
                while (System.nanoTime() < deadline
                        && !(Files.exists(eventsFile) && Files.readString(eventsFile).contains("\"worker\":\"local-1\""))) {
                    Thread.sleep(50);
                }
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        };
        try (LocalCluster cluster = LocalCluster.start(CoordinatorSettings.fresh(cfg, joined, RunSetup.datasetSize(cfg)),
                List.of(holdForTheJoiner), RunListener.NONE)) {
            MetricsLog.await(metrics, 2, m -> true, () -> true, "2 steps");
            cluster.addWorker();
            assertTrue(cluster.await(Duration.ofMinutes(5)).success(), "the run with the joiner finishes");
        }
        List<JsonNode> events = lines(eventsFile);
        List<JsonNode> steps = lines(metrics);
        String all = Files.readString(joined.resolve("events.jsonl"));
        List<JsonNode> transfers = events.stream().filter(e -> e.get("event").asText().equals("state_transferred")).toList();
        assertEquals(1, transfers.size(), "one state transfer, for the join: " + all);
        JsonNode t = transfers.get(0);
        assertEquals("local-0", t.get("donor").asText());
        assertEquals("local-1", t.get("receivers").get(0).asText());
        assertEquals(1, t.get("receivers").size());
        assertTrue(t.get("bytes").asLong() > 3 * 4 * 100_000L, "parameters and both moments travelled: " + t);
        assertTrue(t.get("ms").asDouble() > 0);
        assertFalse(all.contains("\"state_transfer_failed\""), all);
        assertFalse(all.contains("\"rollback\""), "no divergence: " + all);

        // no checkpoint for the join: the only one is the final step's
        for (JsonNode e : events) {
            if (e.get("event").asText().equals("checkpoint_saved")) assertEquals(STEPS, e.get("step").asInt(), "checkpoint: " + e);
        }
        try (Stream<Path> dirs = Files.list(joined.resolve("checkpoints"))) {
            assertEquals(List.of(String.format("step-%09d", STEPS)),
                    dirs.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("step-")).sorted().toList());
        }

        // the state sent is the state after the boundary step, and the next step is taken by both ranks
        // (the coordinator records a step only when every rank reports the same parameter checksum)
        long boundary = t.get("step").asLong();
        JsonNode before = steps.get((int) boundary - 1), after = steps.get((int) boundary);
        assertEquals(boundary, before.get("step").asLong());
        assertEquals(1, before.get("world_size").asInt());
        assertEquals(Long.parseLong(before.get("param_checksum").asText(), 16), Long.parseLong(t.get("param_checksum").asText(), 16));
        assertEquals(2, after.get("world_size").asInt(), "the step after the transfer ran on both ranks: " + after);
        assertEquals(STEPS, steps.size());
        assertEquals(2, steps.get(STEPS - 1).get("world_size").asInt());

        // the same run without the join ends at the same parameters, up to float summation order
        Path alone = work.resolve("alone");
        TrainConfig c1 = config(data, alone, List.of());
        RunSetup.startNewRun(alone, c1);
        assertTrue(LocalCluster.run(CoordinatorSettings.fresh(c1, alone, RunSetup.datasetSize(c1)), 1, RunListener.NONE,
                Duration.ofMinutes(5)).success());
        String last = String.format("checkpoints/step-%09d/model.safetensors", STEPS);
        assertSameModel(SafeTensors.readAll(alone.resolve(last)), SafeTensors.readAll(joined.resolve(last)));
        double lossA = lines(alone.resolve("metrics.jsonl")).get(STEPS - 1).get("loss").asDouble();
        double lossB = steps.get(STEPS - 1).get("loss").asDouble();
        assertEquals(lossA, lossB, 1e-5 * Math.abs(lossA), "final losses");
    }

    @Test
    void withStateTransferCheckpointTheJoinerLoadsACheckpoint(@TempDir Path work) throws Exception {
        DemoPipeline.Prepared data = DemoPipeline.prepare(work.resolve("data"), 10, 8, 9, System.out);
        Path run = work.resolve("run");
        TrainConfig cfg = config(data, run, List.of("distributed_training.state_transfer=checkpoint", "optimization.max_update=10000"));
        trainAloneThenWithAJoiner(run, cfg);
        String events = Files.readString(run.resolve("events.jsonl"));
        assertTrue(events.contains("\"checkpoint_saved\""), "the joiner's state comes from a checkpoint at the boundary: " + events);
        assertFalse(events.contains("\"state_transferred\""), events);
        assertFalse(events.contains("\"rollback\""), "no divergence: " + events);
    }

    @Test
    void withFp16TheJoinerTakesTheDonorsLossScale(@TempDir Path work) throws Exception {
        DemoPipeline.Prepared data = DemoPipeline.prepare(work.resolve("data"), 10, 8, 9, System.out);
        Path run = work.resolve("run");
        // 2048 overflows on the first steps, so the donor's scale has moved off common.fp16_init_scale by the join; a joiner
        // that started from the initial scale would compute other gradients, and the coordinator compares every rank's
        // loss scale and parameter checksum after each step (a mismatch is a rollback)
        TrainConfig cfg = config(data, run, List.of("optimization.max_update=10000", "common.fp16=true",
                "common.fp16_init_scale=2048", "common.fp16_scale_window=1000"));
        Path metrics = trainAloneThenWithAJoiner(run, cfg);
        String events = Files.readString(run.resolve("events.jsonl"));
        assertTrue(events.contains("\"state_transferred\""), "the joiner's state comes from the donor: " + events);
        assertFalse(events.contains("\"rollback\""), "the joiner continues with the donor's scale: " + events);
        List<JsonNode> steps = lines(metrics);
        assertTrue(steps.get(0).get("overflow").asBoolean() && steps.get(0).get("loss_scale").asDouble() == 2048, steps.get(0).toString());
        JsonNode joinedStep = steps.stream().filter(m -> m.get("world_size").asInt() == 2).findFirst().orElseThrow();
        assertTrue(joinedStep.get("loss_scale").asDouble() < 2048, "the scale had moved before the join: " + joinedStep);
    }

    /** One worker trains 3 steps, a second joins, both train 2 steps, then the run is stopped; returns the metrics file. */
    private static Path trainAloneThenWithAJoiner(Path run, TrainConfig cfg) throws Exception {
        RunSetup.startNewRun(run, cfg);
        Path metrics = run.resolve("metrics.jsonl");
        try (LocalCluster cluster = LocalCluster.start(CoordinatorSettings.fresh(cfg, run, RunSetup.datasetSize(cfg)), 1,
                RunListener.NONE)) {
            MetricsLog.await(metrics, 3, m -> true, () -> true, "3 steps");
            cluster.addWorker();
            MetricsLog.await(metrics, 2, m -> m.get("world_size").asInt() == 2, () -> true, "2 steps with the joiner");
            cluster.stop("test: the joiner has trained");
            cluster.await(Duration.ofMinutes(1));
        }
        return metrics;
    }

    private static TrainConfig config(DemoPipeline.Prepared data, Path run, List<String> extra) {
        List<String> overrides = new ArrayList<>(List.of("dataset.global_batch_size=4", "checkpoint.save_interval_updates=100000"));
        overrides.addAll(extra);
        return SessionFactories.withLabelClasses(TrainConfig.from(DemoPipeline.config(data, run, 1, STEPS, 16000)
                .withOverrides(overrides)));
    }

    /** TrajectoryTest's tolerance: only the allreduce's summation order differs. */
    private static void assertSameModel(Map<String, FloatTensor> a, Map<String, FloatTensor> b) {
        assertEquals(a.keySet(), b.keySet());
        double maxDiff = 0, diff2 = 0, norm2 = 0;
        for (String k : a.keySet()) {
            float[] x = a.get(k).data(), y = b.get(k).data();
            for (int i = 0; i < x.length; i++) {
                double d = (double) x[i] - y[i];
                maxDiff = Math.max(maxDiff, Math.abs(d));
                diff2 += d * d;
                norm2 += (double) x[i] * x[i];
            }
        }
        double relative = Math.sqrt(diff2 / norm2);
        System.out.printf("join via donor after %d steps: relative L2 parameter difference %.3g, max |difference| %.3g%n",
                STEPS, relative, maxDiff);
        assertTrue(relative <= 1e-5, "relative L2 parameter difference " + relative);
        assertTrue(maxDiff <= 1e-4, "max parameter difference " + maxDiff);
    }

    private static List<JsonNode> lines(Path file) throws Exception {
        List<JsonNode> out = new ArrayList<>();
        for (String line : Files.readAllLines(file)) if (!line.isBlank()) out.add(JSON.readTree(line));
        return out;
    }
}
