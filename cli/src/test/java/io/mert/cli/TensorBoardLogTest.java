package io.mert.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mert.coordinator.CoordinatorSettings;
import io.mert.coordinator.RunListener;
import io.mert.model.config.TrainConfig;
import io.mert.telemetry.tensorboard.TensorBoardWriter;
import io.mert.telemetry.tensorboard.TfEvent;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class TensorBoardLogTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** A step line shaped as the coordinator's (Coordinator.recordStep). */
    private static ObjectNode step(long step, double loss) {
        ObjectNode m = JSON.createObjectNode().put("step", step).put("epoch", 0).put("loss", loss).put("lr", 1e-4).put("grad_norm", 2.5)
                .put("world_size", 2).put("generation", 1).put("samples_per_s", 8.0).put("step_s", 0.5).put("feature_penalty", 0.01)
                .put("cqt_loss", 0.25).put("supervised_frames", 100).put("sample_digest", "ab").put("param_checksum", "cd");
        m.putArray("acoustic_loss").add(loss / 2).add(loss / 2);
        m.putArray("masked_accuracy").add(0.1).add(0.2);
        m.putObject("timings_ms").put("data", 10).put("compute", 300).put("allreduce", 150).put("update", 40);
        return m;
    }

    @Test
    void stepsBecomeScalarsAndARollbackReplacesTheStepsItUndoes(@TempDir Path dir) throws Exception {
        Iterator<Double> clock = java.util.stream.DoubleStream.iterate(1000, t -> t + 1).boxed().iterator();
        TensorBoardLog log = TensorBoardLog.open(TensorBoardWriter.open(dir, clock::next, "h", 1), RunListener.NONE);
        log.onEvent("coordinator_started", JSON.createObjectNode().put("step", 0));
        log.onStep(step(1, 6.0));
        log.onStep(step(2, 5.0));
        log.onEvent("checkpoint_saved", JSON.createObjectNode().put("step", 2).put("path", "p").put("duration_ms", 1500));
        ObjectNode valid = JSON.createObjectNode().put("split", "valid").put("step", 2).put("loss", 5.5).put("cqt_loss", 0.75)
                .put("clips", 4).put("valid_s", 0.25);
        valid.putArray("acoustic_loss").add(2.5).add(3.0);
        valid.putArray("masked_accuracy").add(0.125).add(0.0625);
        log.onEvent("validation", valid);
        log.onStep(step(3, 4.0));
        log.onEvent("worker_lost", JSON.createObjectNode().put("step", 3).put("worker", "w1"));
        log.onEvent("rollback", JSON.createObjectNode().put("from_step", 3).put("to_step", 2));
        log.onStep(step(3, 4.5));
        log.onFinished(3);

        Map<String, TreeMap<Long, Float>> s = TensorBoardFiles.scalars(dir);
        assertEquals(Map.of(1L, 6f, 2L, 5f, 3L, 4.5f), s.get("train/loss"), "the redone step 3 replaces the undone one");
        assertEquals(Map.of(1L, 3f, 2L, 2.5f, 3L, 2.25f), s.get("train/acoustic_loss_1"));
        assertEquals(0.2f, s.get("train/masked_accuracy_1").get(3L));
        assertEquals(0.3f, s.get("perf/compute_s").get(1L));
        assertEquals(0.15f, s.get("perf/allreduce_s").get(1L));
        assertEquals(1.5f, s.get("checkpoint/duration_s").get(2L));
        assertEquals(Map.of(2L, 5.5f), s.get("valid/loss"));
        assertEquals(Map.of(2L, 3.0f), s.get("valid/acoustic_loss_1"));
        assertEquals(Map.of(2L, 0.0625f), s.get("valid/masked_accuracy_1"));
        assertEquals(Map.of(2L, 0.75f), s.get("valid/cqt_loss"));
        assertEquals(Map.of(2L, 0.25f), s.get("perf/valid_s"));
        assertEquals(2f, s.get("cluster/world_size").get(3L));
        // events are counted with the next step, after the restart marker, so a rollback does not hide them
        assertEquals(1f, s.get("events/worker_lost").get(3L));
        assertEquals(1f, s.get("events/rollback").get(3L));
        assertEquals(List.of("checkpoint/duration_s", "cluster/generation", "cluster/world_size", "events/checkpoint_saved",
                "events/coordinator_started", "events/rollback", "events/validation", "events/worker_lost", "perf/allreduce_s",
                "perf/compute_s", "perf/data_s", "perf/samples_per_s", "perf/step_s", "perf/update_s", "perf/valid_s",
                "train/acoustic_loss_0", "train/acoustic_loss_1", "train/cqt_loss", "train/epoch", "train/feature_penalty",
                "train/grad_norm", "train/loss", "train/lr", "train/masked_accuracy_0", "train/masked_accuracy_1",
                "valid/acoustic_loss_0", "valid/acoustic_loss_1", "valid/cqt_loss", "valid/loss", "valid/masked_accuracy_0",
                "valid/masked_accuracy_1"), List.copyOf(s.keySet()));
        List<TfEvent> events = TensorBoardFiles.events(TensorBoardFiles.files(dir).get(0));
        assertEquals(TfEvent.FILE_VERSION, events.get(0).fileVersion());
        assertEquals(TfEvent.SESSION_START, events.stream().filter(e -> e.sessionStatus() != 0).findFirst().orElseThrow().sessionStatus());
    }

    /**
     * A real run (one worker, stopped after its first checkpoint, then resumed) read by TensorBoard's own
     * EventAccumulator and EventFileLoader: every tag, step and value as our reader sees it, bit for bit.
     */
    @Test
    void tensorBoardReadsARealResumedRunAsWeWroteIt(@TempDir Path work) throws Exception {
        assumeTrue(TensorBoardFiles.tensorBoardSource() != null && Files.isDirectory(TensorBoardFiles.tensorBoardSource()),
                "MERT_TENSORBOARD_SRC (a checkout of github.com/tensorflow/tensorboard) is not set: TensorBoard's own reader cannot run");
        DemoPipeline.Prepared data = DemoPipeline.prepare(work.resolve("data"), 6, 4, 3, System.out);
        Path run = work.resolve("run");
        TrainConfig cfg = TrainConfig.from(DemoPipeline.config(data, run, 1, 4, 8000)
                .withOverrides(List.of("dataset.global_batch_size=2", "checkpoint.save_interval_updates=2")));
        RunSetup.startNewRun(run, cfg);
        LocalCluster[] cluster = new LocalCluster[1];
        RunListener stop = new RunListener() {
            @Override
            public void onEvent(String event, ObjectNode d) {
                if (event.equals("checkpoint_saved")) cluster[0].stop("test: stop after the first checkpoint");
            }
        };
        synchronized (cluster) {
            cluster[0] = LocalCluster.start(CoordinatorSettings.fresh(cfg, run, RunSetup.datasetSize(cfg)), 1, TensorBoardLog.open(run, stop));
        }
        cluster[0].await(Duration.ofMinutes(5));
        cluster[0].close();
        assertTrue(LocalCluster.run(ResumeCommand.settingsFor(run), 1, TensorBoardLog.open(run, RunListener.NONE),
                Duration.ofMinutes(5)).success());

        Path tb = run.resolve(TensorBoardLog.DIR);
        Map<String, TreeMap<Long, Float>> ours = TensorBoardFiles.scalars(tb);
        assertEquals(TensorBoardFiles.lossFromMetrics(run), ours.get("train/loss"));
        JsonNode theirs = TensorBoardFiles.readWithTensorBoard(tb);
        assertEquals(2.0, theirs.get("file_version").asDouble());
        assertEquals(ours.keySet(), iterable(theirs.get("scalars").fieldNames()));
        ours.forEach((tag, points) -> {
            JsonNode t = theirs.get("scalars").get(tag);
            assertEquals(points.size(), t.size(), tag);
            int i = 0;
            for (var p : points.entrySet()) {
                assertEquals(p.getKey(), t.get(i).get(0).asLong(), tag);
                assertEquals(Float.floatToIntBits(p.getValue()), Float.floatToIntBits(TensorBoardFiles.number(t.get(i).get(1))), tag);
                i++;
            }
        });
        for (Path f : TensorBoardFiles.files(tb)) {
            List<TfEvent> mine = TensorBoardFiles.events(f);
            JsonNode file = TensorBoardFiles.readWithTensorBoard(f).get("events");
            assertEquals(mine.size(), file.size(), f.toString());
            for (int i = 0; i < mine.size(); i++) {
                TfEvent e = mine.get(i);
                JsonNode t = file.get(i);
                assertEquals(e.wallTime(), t.get("wall_time").asDouble());
                assertEquals(e.step(), t.get("step").asLong());
                String what = e.fileVersion() != null ? "file_version" : e.sessionStatus() != 0 ? "session_log" : "summary";
                assertEquals(what, t.get("what").asText());
                if (e.fileVersion() != null) assertEquals(e.fileVersion(), t.get("file_version").asText());
                if (e.sessionStatus() != 0) assertEquals(e.sessionStatus(), t.get("status").asInt());
                for (int j = 0; j < e.scalars().size(); j++) {
                    assertEquals(e.scalars().get(j).tag(), t.get("values").get(j).get(0).asText());
                    assertEquals(Float.floatToIntBits(e.scalars().get(j).value()),
                            Float.floatToIntBits(TensorBoardFiles.number(t.get("values").get(j).get(1))));
                }
                if (what.equals("summary")) assertEquals(e.scalars().size(), t.get("values").size());
            }
        }
        assertNotNull(ours.get("checkpoint/duration_s"));
    }

    private static java.util.Set<String> iterable(Iterator<String> it) {
        java.util.Set<String> s = new java.util.TreeSet<>();
        it.forEachRemaining(s::add);
        return s;
    }
}
