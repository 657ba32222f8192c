package io.mert.cli;

import io.mert.coordinator.CoordinatorSettings;
import io.mert.coordinator.RunListener;
import io.mert.model.config.ConfigTree;
import io.mert.model.config.TrainConfig;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * 2N steps straight and N steps + stop + resume + N steps end with bit-identical parameters and
 * optimizer state, on a real two-worker cluster (Pekko over loopback, Aeron IPC allreduce).
 */
class ResumeExactnessTest {

    private static final int N = 3;

    @TempDir
    static Path work;
    static DemoPipeline.Prepared data;

    @BeforeAll
    static void prepareData() throws Exception {
        data = DemoPipeline.prepare(work.resolve("data"), 6, 8, 11, System.out);
    }

    private static TrainConfig config(Path runDir) {
        ConfigTree tree = DemoPipeline.config(data, runDir, 2, 2 * N, 16000)
                .withOverrides(List.of("checkpoint.save_interval_updates=" + N, "dataset.global_batch_size=4"));
        return TrainConfig.from(tree);
    }

    private static LocalCluster.Outcome train(CoordinatorSettings s, RunListener l) {
        return LocalCluster.run(s, 2, l, Duration.ofMinutes(5));
    }

    @Test
    void stopAndResumeEndsWhereAnUninterruptedRunEnds() throws Exception {
        Path straight = work.resolve("straight");
        TrainConfig cfg = config(straight);
        RunSetup.startNewRun(straight, cfg);
        int size = RunSetup.datasetSize(cfg);
        assertTrue(train(CoordinatorSettings.fresh(cfg, straight, size), RunListener.NONE).success());

        Path interrupted = work.resolve("interrupted");
        TrainConfig cfg2 = config(interrupted);
        RunSetup.startNewRun(interrupted, cfg2);
        assertFalse(StopAtFirstCheckpoint.train(cfg2, interrupted, size).success(), "the first half must have been stopped");
        assertTrue(Files.isDirectory(interrupted.resolve("checkpoints/step-00000000" + N)));
        assertFalse(Files.exists(interrupted.resolve("checkpoints/step-00000000" + 2 * N)));

        CoordinatorSettings resumed = ResumeCommand.settingsFor(interrupted);
        assertEquals(N, resumed.startStep());
        assertTrue(train(resumed, TensorBoardLog.open(interrupted, RunListener.NONE)).success());

        for (String file : List.of("model.safetensors", "optimizer.safetensors")) {
            byte[] a = Files.readAllBytes(straight.resolve("checkpoints/step-00000000" + 2 * N).resolve(file));
            byte[] b = Files.readAllBytes(interrupted.resolve("checkpoints/step-00000000" + 2 * N).resolve(file));
            assertArrayEquals(a, b, file + " differs between the straight and the resumed run");
        }
        // a damaged newest checkpoint is detected by SHA256SUMS and resume falls back to the previous one
        Path newest = straight.resolve("checkpoints/step-00000000" + 2 * N + "/model.safetensors");
        byte[] bytes = Files.readAllBytes(newest);
        bytes[bytes.length / 2] ^= 0x5a;
        Files.write(newest, bytes);
        CoordinatorSettings fallback = ResumeCommand.settingsFor(straight);
        assertEquals(N, fallback.startStep());
        assertEquals(straight.resolve("checkpoints/step-00000000" + N).toAbsolutePath(), fallback.restoreCheckpoint().toAbsolutePath());

        List<String> m1 = Files.readAllLines(straight.resolve("metrics.jsonl"));
        List<String> m2 = Files.readAllLines(interrupted.resolve("metrics.jsonl"));
        assertEquals(2 * N, m1.size());
        // the interrupted run may have completed one step past its checkpoint before stopping
        assertTrue(m2.size() >= 2 * N, "metrics lines: " + m2.size());
        assertEquals(field(m1.get(2 * N - 1), "loss"), field(m2.get(m2.size() - 1), "loss"));

        // TensorBoard: one events file per leg; the resume's restart marker replaces any step the first leg did past
        // its checkpoint, so the merged view holds every step once, with the loss metrics.jsonl has last
        Path tb = interrupted.resolve(TensorBoardLog.DIR);
        assertEquals(2, TensorBoardFiles.files(tb).size(), "one events file per process: " + TensorBoardFiles.files(tb));
        var scalars = TensorBoardFiles.scalars(tb);
        assertEquals(TensorBoardFiles.lossFromMetrics(interrupted), scalars.get("train/loss"));
        assertEquals(List.of((long) N, 2L * N), List.copyOf(scalars.get("checkpoint/duration_s").keySet()));
        assertEquals(2f, scalars.get("cluster/world_size").get(2L * N));
        assertEquals(2f, scalars.get("events/checkpoint_saved").lastEntry().getValue(), "counted across the resume");
    }

    private static String field(String json, String key) throws Exception {
        return new com.fasterxml.jackson.databind.ObjectMapper().readTree(json).get(key).asText();
    }
}
