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
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Validation passes on real clusters (Pekko over loopback, Aeron IPC): records at the configured
 * steps, the same numbers with 1 and 2 workers (each clip's crop and mask are seeded by the clip, and
 * ranks send sums), and no effect on training: the parameters after later steps equal those of a run
 * that has no validation split at all (which skips validation with one event and trains on).
 */
class ValidationTest {

    private static final int STEPS = 4;

    @Test
    void validationEveryTwoStepsIsDeterministicAndLeavesTrainingAlone(@TempDir Path work) throws Exception {
        DemoPipeline.Prepared data = DemoPipeline.prepare(work.resolve("data"), 4, 8, 9, System.out);
        // a validation split of several clips (the demo's 10% of 6 is one): the training clips themselves
        Path m = data.manifestDir(), l = data.labelDir();
        Files.copy(m.resolve("train.tsv"), m.resolve("valid.tsv"), StandardCopyOption.REPLACE_EXISTING);
        Files.copy(l.resolve("train.km"), l.resolve("valid.km"), StandardCopyOption.REPLACE_EXISTING);
        int validClips = Files.readAllLines(m.resolve("valid.tsv")).size() - 1;

        List<JsonNode> one = train(data, work.resolve("one"), 1);
        List<JsonNode> two = train(data, work.resolve("two"), 2);
        assertEquals(List.of(2, 4), one.stream().map(v -> v.get("step").asInt()).toList(), one.toString());
        assertEquals(2, two.size(), two.toString());
        for (int i = 0; i < 2; i++) {
            JsonNode a = one.get(i), b = two.get(i);
            assertEquals("valid", a.get("split").asText());
            assertEquals(validClips, a.get("clips").asInt());
            assertEquals(validClips, b.get("clips").asInt());
            double loss = a.get("loss").asDouble(), acc = a.get("masked_accuracy").get(0).asDouble();
            assertTrue(Double.isFinite(loss) && loss > 0, "loss " + loss);
            assertTrue(acc >= 0 && acc <= 1, "accuracy " + acc);
            assertEquals(a.get("supervised_frames").asLong(), b.get("supervised_frames").asLong(), "the same masks");
            // 1 and 2 workers sum the same per-clip numbers in another order, on parameters that agree to float rounding
            assertEquals(loss, b.get("loss").asDouble(), 1e-5 * loss, "valid loss, 1 vs 2 workers, step " + a.get("step"));
            assertEquals(acc, b.get("masked_accuracy").get(0).asDouble(), 1e-9 + 1.0 / a.get("supervised_frames").asLong(),
                    "valid accuracy, 1 vs 2 workers");
            assertEquals(a.get("cqt_loss").asDouble(), b.get("cqt_loss").asDouble(), 1e-5 * a.get("cqt_loss").asDouble());
        }
        assertNotEquals(one.get(0).get("loss").asDouble(), one.get(1).get("loss").asDouble(), "training moved the model");

        // the same run without a validation split: skipped with an event, and the same parameters at every step
        Files.move(m.resolve("valid.tsv"), m.resolve("valid.tsv.off"));
        Path none = work.resolve("none");
        assertTrue(train(data, none, 1).isEmpty());
        assertFalse(Files.exists(none.resolve("valid.jsonl")));
        List<JsonNode> events = MetricsLog.read(none.resolve("events.jsonl"));
        assertEquals(1, events.stream().filter(e -> e.get("event").asText().equals("validation_skipped")).count(), events.toString());
        List<JsonNode> with = MetricsLog.read(work.resolve("one/metrics.jsonl")), without = MetricsLog.read(none.resolve("metrics.jsonl"));
        assertEquals(STEPS, with.size());
        assertEquals(STEPS, without.size());
        for (int s = 0; s < STEPS; s++) {
            assertEquals(without.get(s).get("param_checksum"), with.get(s).get("param_checksum"), "step " + (s + 1));
            assertEquals(without.get(s).get("loss"), with.get(s).get("loss"), "step " + (s + 1));
        }
    }

    /** Trains STEPS steps with validate_interval_updates=2; returns valid.jsonl's records. */
    private static List<JsonNode> train(DemoPipeline.Prepared data, Path run, int workers) throws Exception {
        TrainConfig cfg = SessionFactories.withLabelClasses(TrainConfig.from(DemoPipeline.config(data, run, workers, STEPS, 8000)
                .withOverrides(List.of("dataset.global_batch_size=2", "checkpoint.save_interval_updates=1000",
                        "dataset.validate_interval_updates=2"))));
        RunSetup.startNewRun(run, cfg);
        LocalCluster.Outcome o = LocalCluster.run(CoordinatorSettings.fresh(cfg, run, RunSetup.datasetSize(cfg)), workers,
                RunListener.NONE, Duration.ofMinutes(5));
        assertTrue(o.success(), o.failure());
        assertEquals(STEPS, o.completedSteps());
        List<JsonNode> valid = new ArrayList<>(MetricsLog.read(run.resolve("valid.jsonl")));
        List<JsonNode> events = MetricsLog.read(run.resolve("events.jsonl"));
        assertEquals(valid.size(), events.stream().filter(e -> e.get("event").asText().equals("validation")).count());
        return valid;
    }
}
