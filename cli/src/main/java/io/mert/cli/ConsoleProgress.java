package io.mert.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mert.coordinator.RunListener;

import java.io.PrintStream;
import java.util.Locale;

/** Prints a training line every {@code interval} steps and the events a user should see. */
final class ConsoleProgress implements RunListener {

    private final PrintStream out;
    private final int interval;
    private final long maxUpdate;
    private final java.util.Set<String> skippedFiles = new java.util.HashSet<>();

    ConsoleProgress(PrintStream out, int interval, long maxUpdate) {
        this.out = out;
        this.interval = interval;
        this.maxUpdate = maxUpdate;
    }

    @Override
    public void onStep(ObjectNode m) {
        long step = m.get("step").asLong();
        if (step % interval != 0 && step != maxUpdate && step != 1) return;
        out.println(String.format(Locale.ROOT,
                "step %5d/%d  loss %.4f  masked_acc %s  cqt %.4f  lr %.2e  grad_norm %.3f  %.1f samples/s  world %d  gen %d",
                step, maxUpdate, m.get("loss").asDouble(), list(m.get("masked_accuracy")), m.get("cqt_loss").asDouble(),
                m.get("lr").asDouble(), m.get("grad_norm").asDouble(), m.get("samples_per_s").asDouble(),
                m.get("world_size").asInt(), m.get("generation").asLong()));
    }

    @Override
    public void onEvent(String event, ObjectNode d) {
        switch (event) {
            case "generation_started" -> out.println("generation " + d.get("generation") + ": " + d.get("world_size")
                    + " worker(s) " + d.get("workers") + " from step " + d.get("step"));
            case "worker_lost", "step_failed", "rollback", "paused", "checkpoint_failed" -> out.println(event + ": " + d);
            case "checkpoint_saved" -> out.println("checkpoint " + d.get("path").asText()
                    + (d.has("duration_ms") ? String.format(Locale.ROOT, " (%.1f s)", d.get("duration_ms").asDouble() / 1000) : ""));
            case "sample_skipped" -> {
                if (skippedFiles.add(d.get("file").asText()))
                    out.println("skipping unreadable audio " + d.get("file").asText() + " (" + d.get("reason").asText()
                            + "): replaced by " + d.get("replacement").asText() + " at step " + d.get("step")
                            + "; later draws of it are replaced too (events.jsonl lists each)");
            }
            case "validation" -> out.println(String.format(Locale.ROOT,
                    "valid %5d/%d  loss %.4f  masked_acc %s  cqt %.4f  (%s: %d clips)", d.get("step").asLong(), maxUpdate,
                    d.get("loss").asDouble(), list(d.get("masked_accuracy")), d.get("cqt_loss").asDouble(),
                    d.get("split").asText(), d.get("clips").asInt()));
            case "validation_skipped" -> out.println("no validation: " + d.get("reason").asText());
            case "validation_failed" -> out.println("validation failed at step " + d.get("step") + " (training goes on): "
                    + d.get("reason").asText());
            case "data_error" -> out.println("data error at step " + d.get("step") + ": " + d.get("file").asText() + ": "
                    + d.get("reason").asText());
            default -> {
            }
        }
    }

    @Override
    public void onFailed(String reason) {
        out.println("run failed: " + reason);
    }

    private static String list(JsonNode arr) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < arr.size(); i++) {
            if (i > 0) sb.append(' ');
            sb.append(String.format(Locale.ROOT, "%.3f", arr.get(i).asDouble()));
        }
        return sb.append(']').toString();
    }
}
