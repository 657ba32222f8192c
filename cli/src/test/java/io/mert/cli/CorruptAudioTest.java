package io.mert.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.mert.coordinator.CoordinatorSettings;
import io.mert.coordinator.RunListener;
import io.mert.data.Manifest;
import io.mert.data.TrainingClips;
import io.mert.model.checkpoint.CheckpointStore;
import io.mert.model.checkpoint.LoadedCheckpoint;
import io.mert.model.config.ConfigTree;
import io.mert.model.config.TrainConfig;
import io.mert.protocol.ShardPlan;
import io.mert.worker.SessionFactories;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A WAV that is damaged on disk after the manifest and labels were made, and first read in the middle
 * of a real two-worker run (Pekko over loopback, Aeron IPC): by default the draw is replaced by the
 * next readable clip on every rank alike and the run completes; with {@code dataset.strict_data} the
 * run stops before applying the step, checkpoints the last completed step and exits non-zero naming
 * the file.
 */
class CorruptAudioTest {

    private static final int STEPS = 4;
    private static final int BAD_STEP = 2; // 0-based: steps 0 and 1 train normally, step 2 draws the damaged file

    @Test
    void aFileDamagedMidRunIsSkippedDeterministicallyOrStopsAStrictRun(@TempDir Path work) throws Exception {
        DemoPipeline.Prepared data = DemoPipeline.prepare(work.resolve("data"), 8, 8, 5, System.out);
        TrainConfig probe = config(data, work.resolve("probe"));
        TrainingClips clips = SessionFactories.trainingClips(probe);
        ShardPlan plan = new ShardPlan(probe.seed(), probe.globalBatch(), clips.size());
        Set<Integer> early = new HashSet<>();
        for (int s = 0; s < BAD_STEP; s++) for (int i : plan.manifestIndices(s, 0, 1)) early.add(i);
        int bad = -1;
        for (int i : plan.manifestIndices(BAD_STEP, 0, 1)) if (!early.contains(i)) bad = i;
        assertTrue(bad >= 0, "a clip first drawn at step " + BAD_STEP);
        String badPath = clips.path(bad);
        Path badFile = Manifest.read(data.manifestDir().resolve("train.tsv")).resolve(clips.entryIndex(bad));
        // Damage it now, after prepare-manifest and prepare-labels read it and before training does:
        // the WAV header now claims more data than the file holds.
        try (RandomAccessFile f = new RandomAccessFile(badFile.toFile(), "rw")) {
            f.setLength(f.length() / 2);
        }

        // ---- strict: a clean stop before the step is applied ----
        Path strictRun = work.resolve("strict");
        Path strictConfig = work.resolve("strict.yaml");
        Files.writeString(strictConfig, tree(data, strictRun).toYaml());
        PrintStream oldOut = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        int rc;
        System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try {
            rc = Mert.execute("train", "--config", strictConfig.toString(), "--local-workers", "2", "dataset.strict_data=true");
        } finally {
            System.setOut(oldOut);
        }
        String out = captured.toString(StandardCharsets.UTF_8);
        System.out.print(out);
        assertEquals(1, rc, "a strict run that meets a damaged file exits non-zero");
        assertTrue(out.contains("run failed: unreadable training audio " + badPath), out);
        assertTrue(out.contains("dataset.strict_data") && out.contains("train.tsv"), "the message says how to fix it: " + out);
        List<JsonNode> strictEvents = MetricsLog.read(strictRun.resolve("events.jsonl"));
        JsonNode dataError = only(strictEvents, "data_error");
        assertEquals(badPath, dataError.get("file").asText());
        assertEquals(BAD_STEP + 1, dataError.get("step").asInt(), "the step not applied (1-based, as metrics)");
        assertEquals(BAD_STEP, dataError.get("last_completed_step").asInt());
        assertTrue(dataError.get("reason").asText().contains(badFile.getFileName().toString()), dataError.toString());
        assertEquals(BAD_STEP, MetricsLog.read(strictRun.resolve("metrics.jsonl")).size(), "no step after the damaged one");
        Optional<LoadedCheckpoint> kept = new CheckpointStore(strictRun, 3).loadLatestValid(); // verifies SHA256SUMS
        assertTrue(kept.isPresent(), "the last completed step was checkpointed");
        assertEquals(BAD_STEP, kept.get().step());
        assertTrue(strictEvents.stream().noneMatch(e -> e.get("event").asText().equals("rollback")), strictEvents.toString());

        // ---- default: the draw is replaced by the next readable clip and the run completes ----
        Path skipRun = work.resolve("skip");
        TrainConfig cfg = config(data, skipRun);
        RunSetup.startNewRun(skipRun, cfg);
        LocalCluster.Outcome o = LocalCluster.run(CoordinatorSettings.fresh(cfg, skipRun, RunSetup.datasetSize(cfg)), 2,
                RunListener.NONE, Duration.ofMinutes(5));
        assertTrue(o.success(), o.failure());
        assertEquals(STEPS, o.completedSteps());
        List<JsonNode> events = MetricsLog.read(skipRun.resolve("events.jsonl"));
        JsonNode skipped = events.stream().filter(e -> e.get("event").asText().equals("sample_skipped")).findFirst()
                .orElseThrow(() -> new AssertionError("no sample_skipped event: " + events));
        int replacement = (bad + 1) % clips.size();
        assertEquals(badPath, skipped.get("file").asText());
        assertEquals(BAD_STEP + 1, skipped.get("step").asInt(), "reported with the step it happened in (1-based, as metrics)");
        assertEquals(clips.path(replacement), skipped.get("replacement").asText());
        assertTrue(skipped.get("reason").asText().contains(badFile.getFileName().toString()), skipped.toString());
        // Every rank agreed on the replacement: a disagreement would show as differing parameter checksums,
        // which the coordinator turns into a rollback.
        assertTrue(events.stream().noneMatch(e -> e.get("event").asText().equals("rollback")
                || e.get("event").asText().equals("step_failed")), events.toString());

        List<JsonNode> metrics = MetricsLog.read(skipRun.resolve("metrics.jsonl"));
        assertEquals(STEPS, metrics.size());
        // the step's sample digest counts the replacement, not the damaged draw
        long expected = 0, drawnDigest = 0;
        int[] drawn = plan.manifestIndices(BAD_STEP, 0, 1);
        for (int j = 0; j < drawn.length; j++) {
            long serial = plan.sampleSerial(BAD_STEP, 0, 1, j);
            expected += ShardPlan.mix(drawn[j] == bad ? replacement : drawn[j], serial);
            drawnDigest += ShardPlan.mix(drawn[j], serial);
        }
        assertNotEquals(drawnDigest, expected);
        assertEquals(Long.toHexString(expected), metrics.get(BAD_STEP).get("sample_digest").asText());
        // the steps before the damaged one are the strict run's, bit for bit
        List<JsonNode> strictMetrics = MetricsLog.read(strictRun.resolve("metrics.jsonl"));
        for (int s = 0; s < BAD_STEP; s++)
            assertEquals(strictMetrics.get(s).get("param_checksum"), metrics.get(s).get("param_checksum"), "step " + (s + 1));
    }

    private static JsonNode only(List<JsonNode> events, String name) {
        List<JsonNode> found = new ArrayList<>();
        for (JsonNode e : events) if (e.get("event").asText().equals(name)) found.add(e);
        assertEquals(1, found.size(), name + " events: " + events);
        return found.get(0);
    }

    private static ConfigTree tree(DemoPipeline.Prepared data, Path run) {
        return DemoPipeline.config(data, run, 2, STEPS, 8000)
                .withOverrides(List.of("dataset.global_batch_size=2", "checkpoint.save_interval_updates=1000"));
    }

    private static TrainConfig config(DemoPipeline.Prepared data, Path run) {
        return SessionFactories.withLabelClasses(TrainConfig.from(tree(data, run)));
    }
}
