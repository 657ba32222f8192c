package io.mert.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.mert.cli.bench.NodeProcesses;
import io.mert.model.config.ConfigTree;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A real `mert train` process (coordinator and its worker, which writes the checkpoints) SIGKILLed
 * while a checkpoint is being written: the test watches the checkpoints directory and kills the
 * moment a save's temporary directory appears. `mert resume` must then start from the newest
 * complete checkpoint, remove and report the partial one, and redo the steps after it exactly.
 */
class CheckpointKillTest {

    private static final int MAX_UPDATE = 8;
    private static final int ATTEMPTS = 6;

    @Test
    void aKillDuringACheckpointWriteResumesFromThePreviousCheckpoint(@TempDir Path work) throws Exception {
        DemoPipeline.Prepared data = FaultTestData.get();
        Path run = work.resolve("run");
        // a checkpoint every step; a wider feed-forward layer makes each save a few MB, so the write
        // (fsync included) lasts long enough to be hit
        ConfigTree tree = DemoPipeline.config(data, run, 1, MAX_UPDATE, 16000).withOverrides(List.of(
                "dataset.global_batch_size=4", "checkpoint.save_interval_updates=1", "checkpoint.keep_interval_updates=2",
                "model.encoder_ffn_embed_dim=4096", "common.log_interval=1"));
        Path config = work.resolve("config.yaml");
        Files.writeString(config, tree.toYaml());
        Path checkpoints = run.resolve("checkpoints");
        try (NodeProcesses nodes = new NodeProcesses(work, Mert.class.getName())) {
            Process p = nodes.start("train", List.of("train", "--config", config.toString(), "--local-workers", "1"));
            String partial = null;
            Long previous = null;
            for (int attempt = 1; attempt <= ATTEMPTS && partial == null; attempt++) {
                // kill the moment a save is under way, once there is a complete checkpoint to fall back to
                while (p.isAlive() && (temporary(checkpoints).isEmpty() || newestComplete(checkpoints).isEmpty())) {
                    Thread.onSpinWait();
                }
                p.destroyForcibly(); // SIGKILL
                assertTrue(p.waitFor(1, TimeUnit.MINUTES));
                Optional<String> left = temporary(checkpoints);
                if (left.isPresent()) {
                    partial = left.get();
                    previous = newestComplete(checkpoints).orElseThrow();
                    break;
                }
                // the save finished between our look and the kill: resume and try again
                System.out.println("attempt " + attempt + ": the kill missed the write; resuming to try again");
                p = nodes.start("resume-" + attempt, List.of("resume", "--run-dir", run.toString(), "--local-workers", "1"));
            }
            assertNotNull(partial, "no kill landed inside a checkpoint write in " + ATTEMPTS + " attempts");
            System.out.println("killed while writing " + partial + "; newest complete checkpoint: step " + previous);

            Process resumed = nodes.start("resumed", List.of("resume", "--run-dir", run.toString(), "--local-workers", "1"));
            assertTrue(resumed.waitFor(4, TimeUnit.MINUTES), "the resumed run did not finish");
            String log = Files.readString(nodes.log("resumed"));
            assertEquals(0, resumed.exitValue(), log);
            assertTrue(log.contains("partial checkpoint from an interrupted save") && log.contains(partial),
                    "the partial checkpoint is reported: " + log);
            assertTrue(log.contains("at step " + previous), "resumes from step " + previous + ": " + log);
            assertTrue(temporary(checkpoints).isEmpty(), "no temporary left");

            List<JsonNode> starts = MetricsLog.read(run.resolve("events.jsonl")).stream()
                    .filter(e -> e.get("event").asText().equals("coordinator_started")).toList();
            assertEquals(previous, starts.get(starts.size() - 1).get("step").asLong());
            // steps trained twice (before the kill and after the resume) end with identical parameters
            Map<Integer, String> checksum = new HashMap<>();
            int last = 0, redone = 0;
            for (JsonNode m : MetricsLog.read(run.resolve("metrics.jsonl"))) {
                int step = m.get("step").asInt();
                String before = checksum.putIfAbsent(step, m.get("param_checksum").asText());
                if (before != null) {
                    redone++;
                    assertEquals(before, m.get("param_checksum").asText(), "step " + step + " redone differently");
                }
                last = step;
            }
            assertEquals(MAX_UPDATE, last, "training went on to the end");
            assertTrue(redone >= 1, "the step whose checkpoint was lost is trained again");
        }
    }

    /** The name of a save's temporary directory in {@code checkpoints}, if one exists now. */
    private static Optional<String> temporary(Path checkpoints) throws Exception {
        if (!Files.isDirectory(checkpoints)) return Optional.empty();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(checkpoints, ".tmp-step-*")) {
            for (Path p : ds) return Optional.of(p.getFileName().toString());
        } catch (java.nio.file.NoSuchFileException gone) {
            return Optional.empty();
        }
        return Optional.empty();
    }

    private static Optional<Long> newestComplete(Path checkpoints) throws Exception {
        if (!Files.isDirectory(checkpoints)) return Optional.empty();
        List<Long> steps = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(checkpoints, "step-*")) {
            for (Path p : ds) steps.add(Long.parseLong(p.getFileName().toString().substring(5)));
        }
        return steps.stream().max(Long::compare);
    }
}
