package io.mert.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mert.coordinator.RunListener;
import io.mert.telemetry.tensorboard.TensorBoardWriter;
import io.mert.telemetry.tensorboard.TfEvent;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * Writes the run's step metrics and events to {@code RUN/tensorboard/} as TensorBoard scalars, then
 * passes every callback on to {@code next}. Tags:
 * <ul>
 * <li>{@code train/}: loss, acoustic_loss_K and masked_accuracy_K per label stream K, cqt_loss,
 *     feature_penalty, lr, grad_norm, epoch</li>
 * <li>{@code perf/}: samples_per_s, step_s, and the step's phases on rank 0 (data_s, compute_s, allreduce_s, update_s)</li>
 * <li>{@code cluster/}: world_size, generation</li>
 * <li>{@code valid/} (the split's name): loss, acoustic_loss_K, masked_accuracy_K, cqt_loss of each validation
 *     pass, and {@code perf/valid_s}</li>
 * <li>{@code checkpoint/duration_s} at the checkpoint's step</li>
 * <li>{@code events/NAME}: how many NAME events (worker_lost, rollback, ...) the run directory has seen,
 *     written with the next step so a rollback's restart marker cannot hide them</li>
 * </ul>
 * A resume or a rollback writes TensorBoard's restart marker (SessionLog START) at the first step
 * trained again, so TensorBoard drops the points the restarted run replaces.
 */
final class TensorBoardLog implements RunListener {

    static final String DIR = "tensorboard";
    private static final String[] PHASES = {"data", "compute", "allreduce", "update"};

    private final TensorBoardWriter writer; // null: no event file, callbacks only pass on
    private final RunListener next;
    private final Map<String, Long> eventCounts;
    private boolean countsChanged;
    private long lastStep;

    private TensorBoardLog(TensorBoardWriter writer, RunListener next, Map<String, Long> eventCounts) {
        this.writer = writer;
        this.next = next;
        this.eventCounts = eventCounts;
    }

    /** A new event file in {@code runDir/tensorboard}; events counted so far are read from {@code runDir/events.jsonl}. */
    static TensorBoardLog open(Path runDir, RunListener next) {
        return new TensorBoardLog(TensorBoardWriter.open(runDir.resolve(DIR)), next, countedEvents(runDir.resolve("events.jsonl")));
    }

    static TensorBoardLog open(TensorBoardWriter writer, RunListener next) {
        return new TensorBoardLog(writer, next, new TreeMap<>());
    }

    @Override
    public void onStep(ObjectNode m) {
        if (writer != null) {
            long step = m.path("step").asLong();
            lastStep = step;
            List<TfEvent.Scalar> s = new ArrayList<>();
            add(s, "train/loss", m.get("loss"));
            each(s, "train/acoustic_loss_", m.get("acoustic_loss"));
            each(s, "train/masked_accuracy_", m.get("masked_accuracy"));
            add(s, "train/cqt_loss", m.get("cqt_loss"));
            add(s, "train/feature_penalty", m.get("feature_penalty"));
            add(s, "train/lr", m.get("lr"));
            add(s, "train/grad_norm", m.get("grad_norm"));
            add(s, "train/epoch", m.get("epoch"));
            add(s, "perf/samples_per_s", m.get("samples_per_s"));
            add(s, "perf/step_s", m.get("step_s"));
            JsonNode t = m.path("timings_ms");
            for (String p : PHASES) {
                if (t.has(p)) s.add(new TfEvent.Scalar("perf/" + p + "_s", (float) (t.get(p).asDouble() / 1000)));
            }
            add(s, "cluster/world_size", m.get("world_size"));
            add(s, "cluster/generation", m.get("generation"));
            addCounts(s);
            writer.scalars(step, s);
        }
        next.onStep(m);
    }

    @Override
    public void onEvent(String event, ObjectNode d) {
        if (writer != null) {
            eventCounts.merge(event, 1L, Long::sum);
            countsChanged = true;
            switch (event) {
                case "coordinator_started" -> {
                    lastStep = d.path("step").asLong();
                    if (lastStep > 0) writer.sessionStart(lastStep + 1); // resumed: later steps of the old file are replaced
                }
                case "rollback" -> {
                    lastStep = d.path("to_step").asLong();
                    writer.sessionStart(lastStep + 1);
                }
                case "checkpoint_saved" -> {
                    if (d.has("duration_ms")) {
                        writer.scalars(d.path("step").asLong(),
                                List.of(new TfEvent.Scalar("checkpoint/duration_s", (float) (d.get("duration_ms").asDouble() / 1000))));
                    }
                }
                case "validation" -> {
                    String split = d.path("split").asText("valid");
                    List<TfEvent.Scalar> s = new ArrayList<>();
                    add(s, split + "/loss", d.get("loss"));
                    each(s, split + "/acoustic_loss_", d.get("acoustic_loss"));
                    each(s, split + "/masked_accuracy_", d.get("masked_accuracy"));
                    add(s, split + "/cqt_loss", d.get("cqt_loss"));
                    add(s, "perf/" + split + "_s", d.get("valid_s"));
                    writer.scalars(d.path("step").asLong(), s);
                }
                default -> {
                }
            }
        }
        next.onEvent(event, d);
    }

    @Override
    public void onFinished(long completedSteps) {
        end();
        next.onFinished(completedSteps);
    }

    @Override
    public void onFailed(String reason) {
        end();
        next.onFailed(reason);
    }

    private void end() {
        if (writer == null) return;
        if (countsChanged) {
            List<TfEvent.Scalar> s = new ArrayList<>();
            addCounts(s);
            writer.scalars(lastStep, s);
        }
        writer.close();
    }

    private void addCounts(List<TfEvent.Scalar> s) {
        if (!countsChanged) return;
        eventCounts.forEach((name, n) -> s.add(new TfEvent.Scalar("events/" + name, n)));
        countsChanged = false;
    }

    private static void add(List<TfEvent.Scalar> s, String tag, JsonNode v) {
        if (v != null && v.isNumber()) s.add(new TfEvent.Scalar(tag, (float) v.asDouble()));
    }

    private static void each(List<TfEvent.Scalar> s, String prefix, JsonNode arr) {
        if (arr == null) return;
        for (int i = 0; i < arr.size(); i++) add(s, prefix + i, arr.get(i));
    }

    /** Events per name in an existing events.jsonl (a resumed run keeps counting); empty when there is none. */
    private static Map<String, Long> countedEvents(Path eventsJsonl) {
        Map<String, Long> counts = new TreeMap<>();
        if (!Files.isRegularFile(eventsJsonl)) return counts;
        ObjectMapper json = new ObjectMapper();
        try (Stream<String> lines = Files.lines(eventsJsonl)) {
            lines.forEach(line -> {
                try {
                    String name = json.readTree(line).path("event").asText("");
                    if (!name.isEmpty()) counts.merge(name, 1L, Long::sum);
                } catch (IOException e) {
                    // a torn last line of a killed run: not an event
                }
            });
        } catch (IOException | java.io.UncheckedIOException e) {
            org.slf4j.LoggerFactory.getLogger(TensorBoardLog.class).warn("cannot read {} ({}); event counts start at 0", eventsJsonl, e.toString());
        }
        return counts;
    }
}
