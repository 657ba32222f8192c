package io.mert.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mert.coordinator.RunListener;
import io.mert.telemetry.MetricsRegistry;

/**
 * The coordinator's Prometheus metrics and {@code /status} JSON, fed by the run's callbacks (the same
 * objects it writes to metrics.jsonl and events.jsonl), then passed on to {@code next}.
 */
final class CoordinatorTelemetry implements RunListener {

    private static final ObjectMapper JSON = new ObjectMapper();
    static final double[] STEP_BUCKETS = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
    static final double[] CHECKPOINT_BUCKETS = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};

    private final RunListener next;
    private final long maxUpdate;
    private final MetricsRegistry registry = new MetricsRegistry();
    private final MetricsRegistry.Gauge step = registry.gauge("mert_step", "completed training steps");
    private final MetricsRegistry.Gauge loss = registry.gauge("mert_loss", "loss of the last step (fairseq: per supervised frame)");
    private final MetricsRegistry.Gauge lr = registry.gauge("mert_learning_rate", "learning rate of the last step");
    private final MetricsRegistry.Gauge gradNorm = registry.gauge("mert_grad_norm", "gradient norm of the last step, before clipping");
    private final MetricsRegistry.Gauge worldSize = registry.gauge("mert_world_size", "workers in the current generation");
    private final MetricsRegistry.Gauge generation = registry.gauge("mert_generation", "current membership generation");
    private final MetricsRegistry.Gauge samplesPerSecond = registry.gauge("mert_samples_per_second", "clips per second, last step");
    private final MetricsRegistry.Histogram stepSeconds = registry.histogram("mert_step_seconds", "wall time of a step", STEP_BUCKETS);
    private final MetricsRegistry.Gauge phase = registry.gauge("mert_step_phase_seconds",
            "time of the last step by phase on rank 0 (data, compute, allreduce, update)", "phase");
    private final MetricsRegistry.Histogram checkpointSeconds = registry.histogram("mert_checkpoint_seconds",
            "checkpoint writes as the run waited for them (request to rank 0's reply)", CHECKPOINT_BUCKETS);
    private final MetricsRegistry.Counter events = registry.counter("mert_events_total",
            "run events: generation_started, worker_lost, worker_registered, rollback, checkpoint_saved, ...", "event");

    private volatile ObjectNode last;
    private volatile ArrayNode members = JSON.createArrayNode();
    private volatile String state = "starting";
    private double meanStepSeconds = Double.NaN;

    CoordinatorTelemetry(RunListener next, long maxUpdate) {
        this.next = next;
        this.maxUpdate = maxUpdate;
    }

    MetricsRegistry registry() {
        return registry;
    }

    @Override
    public void onStep(ObjectNode m) {
        step.set(m.path("step").asDouble());
        loss.set(m.path("loss").asDouble());
        lr.set(m.path("lr").asDouble());
        gradNorm.set(m.path("grad_norm").asDouble());
        worldSize.set(m.path("world_size").asDouble());
        generation.set(m.path("generation").asDouble());
        samplesPerSecond.set(m.path("samples_per_s").asDouble());
        double s = m.path("step_s").asDouble();
        stepSeconds.observe(s);
        synchronized (this) {
            meanStepSeconds = Double.isNaN(meanStepSeconds) ? s : 0.9 * meanStepSeconds + 0.1 * s;
        }
        JsonNode t = m.path("timings_ms");
        for (String p : new String[] {"data", "compute", "allreduce", "update"}) {
            if (t.has(p)) phase.set(t.get(p).asDouble() / 1000, p);
        }
        last = m;
        state = "training";
        next.onStep(m);
    }

    @Override
    public void onEvent(String event, ObjectNode details) {
        events.inc(event);
        if (event.equals("generation_started")) {
            if (details.has("workers")) members = (ArrayNode) details.get("workers");
            generation.set(details.path("generation").asDouble());
            worldSize.set(details.path("world_size").asDouble());
        } else if (event.equals("checkpoint_saved") && details.has("duration_ms")) {
            checkpointSeconds.observe(details.get("duration_ms").asDouble() / 1000);
        } else if (event.equals("paused")) {
            state = "paused: too few workers";
        }
        next.onEvent(event, details);
    }

    @Override
    public void onFinished(long completedSteps) {
        state = "finished";
        next.onFinished(completedSteps);
    }

    @Override
    public void onFailed(String reason) {
        state = "failed: " + reason;
        next.onFailed(reason);
    }

    /** {@code /status}: where the run is, who trains it, and when it should end. */
    String status() {
        ObjectNode o = JSON.createObjectNode();
        ObjectNode m = last;
        o.put("state", state);
        o.put("max_update", maxUpdate);
        o.set("members", members);
        if (m != null) {
            for (String k : new String[] {"step", "epoch", "loss", "lr", "grad_norm", "world_size", "generation", "samples_per_s"}) {
                if (m.has(k)) o.set(k, m.get(k));
            }
            double mean;
            synchronized (this) {
                mean = meanStepSeconds;
            }
            o.put("eta_s", Math.max(0, maxUpdate - m.path("step").asLong()) * mean);
        } else {
            o.put("step", 0);
        }
        return o.toString();
    }
}
