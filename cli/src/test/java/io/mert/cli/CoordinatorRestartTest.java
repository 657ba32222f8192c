package io.mert.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mert.coordinator.CoordinatorSettings;
import io.mert.coordinator.RunListener;
import io.mert.model.config.ConfigTree;
import io.mert.model.config.TrainConfig;
import io.mert.worker.SessionFactories;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A rescheduled coordinator (Kubernetes restarts `mert coordinator --resume-if-present` with the
 * same arguments) continues the run its run directory holds, from the newest valid checkpoint; on
 * an empty run directory the same command line starts a new run; without the option it refuses to
 * start over a run with checkpoints. Real in-process cluster of two workers.
 */
class CoordinatorRestartTest {

    private static final int N = 3;
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void aRestartedCoordinatorContinuesFromTheNewestCheckpoint(@TempDir Path work) throws Exception {
        DemoPipeline.Prepared data = DemoPipeline.prepare(work.resolve("data"), 6, 8, 21, System.out);
        Path run = work.resolve("run");
        TrainConfig cfg = SessionFactories.withLabelClasses(TrainConfig.from(DemoPipeline.config(data, run, 2, 2 * N, 16000)
                .withOverrides(List.of("checkpoint.save_interval_updates=" + N, "dataset.global_batch_size=4",
                        "common.log_interval=1"))));

        // first start: nothing in the run directory, so a new run
        ByteArrayOutputStream firstOut = new ByteArrayOutputStream();
        CoordinatorSettings first = CoordinatorCommand.settingsFor(cfg, run, true, new PrintStream(firstOut, true, StandardCharsets.UTF_8));
        assertEquals(0, first.startStep());
        assertNull(first.restoreCheckpoint());
        assertFalse(firstOut.toString(StandardCharsets.UTF_8).contains("resuming"));
        assertTrue(Files.isRegularFile(run.resolve(RunSetup.CONFIG_FILE)));

        // the coordinator "dies" right after its first checkpoint
        LocalCluster[] cluster = new LocalCluster[1];
        RunListener dieAfterCheckpoint = new RunListener() {
            @Override
            public void onEvent(String event, ObjectNode d) {
                if (event.equals("checkpoint_saved")) cluster[0].stop("test: coordinator lost after the first checkpoint");
            }
        };
        synchronized (cluster) {
            cluster[0] = LocalCluster.start(first, 2, dieAfterCheckpoint);
        }
        assertFalse(cluster[0].await(Duration.ofMinutes(3)).success());
        cluster[0].close();
        assertTrue(Files.isDirectory(run.resolve("checkpoints/step-00000000" + N)));

        // without the option the same command line refuses, naming the way out
        IllegalStateException refused = assertThrows(IllegalStateException.class,
                () -> CoordinatorCommand.settingsFor(cfg, run, false, new PrintStream(new ByteArrayOutputStream())));
        assertTrue(refused.getMessage().contains("mert resume"), refused.getMessage());

        // the rescheduled coordinator: same arguments, a changed override is reported and the recorded config wins
        TrainConfig changed = SessionFactories.withLabelClasses(TrainConfig.from(ConfigTree.parse(cfg.tree().toYaml(), "changed")
                .withOverrides(List.of("optimization.lr=[0.001]"))));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        CoordinatorSettings resumed = CoordinatorCommand.settingsFor(changed, run, true, new PrintStream(out, true, StandardCharsets.UTF_8));
        String printed = out.toString(StandardCharsets.UTF_8);
        assertTrue(printed.contains("resuming") && printed.contains("step " + N), printed);
        assertTrue(printed.contains("recorded one is used"), printed);
        assertEquals(N, resumed.startStep());
        assertEquals(run.resolve("checkpoints/step-00000000" + N).toAbsolutePath(), resumed.restoreCheckpoint().toAbsolutePath());
        assertEquals(cfg.lr(), resumed.config().lr(), "the run's recorded config, not the changed one");
        // the same settings `mert resume --run-dir` builds
        CoordinatorSettings viaResume = ResumeCommand.settingsFor(run);
        assertEquals(viaResume.startStep(), resumed.startStep());
        assertEquals(viaResume.restoreCheckpoint(), resumed.restoreCheckpoint());
        assertEquals(viaResume.config().configHash(), resumed.config().configHash());

        assertTrue(LocalCluster.run(resumed, 2, RunListener.NONE, Duration.ofMinutes(3)).success());
        List<String> metrics = Files.readAllLines(run.resolve("metrics.jsonl"));
        assertEquals(2 * N, JSON.readTree(metrics.get(metrics.size() - 1)).get("step").asInt(), "the run reached its end");
        List<JsonNode> starts = new ArrayList<>();
        for (String line : Files.readAllLines(run.resolve("events.jsonl"))) {
            JsonNode e = JSON.readTree(line);
            if (e.get("event").asText().equals("coordinator_started")) starts.add(e);
        }
        assertEquals(2, starts.size());
        assertEquals(N, starts.get(1).get("step").asLong(), "the second coordinator started at the checkpoint");
        assertTrue(Files.isDirectory(run.resolve("checkpoints/step-00000000" + 2 * N)));
    }
}
