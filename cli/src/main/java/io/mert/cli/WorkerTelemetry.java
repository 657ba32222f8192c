package io.mert.cli;

import io.mert.protocol.control.StepTimings;
import io.mert.telemetry.MetricsRegistry;
import io.mert.worker.StepObserver;

/** A worker's own metrics: its steps and where their time went. */
final class WorkerTelemetry implements StepObserver {

    private final MetricsRegistry registry = new MetricsRegistry();
    private final MetricsRegistry.Counter steps = registry.counter("mert_worker_steps_total", "steps this worker completed");
    private final MetricsRegistry.Gauge lastStep = registry.gauge("mert_worker_step", "the last step this worker completed");
    private final MetricsRegistry.Gauge worldSize = registry.gauge("mert_worker_world_size", "world size of its last step");
    private final MetricsRegistry.Histogram phases = registry.histogram("mert_worker_phase_seconds",
            "time per step phase: data, compute (forward+backward), allreduce, update", CoordinatorTelemetry.STEP_BUCKETS, "phase");

    private final MetricsRegistry.Counter allreduceBytes = registry.counter("mert_worker_allreduce_bytes_total",
            "float32 payload allreduced by this worker (gradients and step statistics), summed over steps");
    private final MetricsRegistry.Gauge algbw = registry.gauge("mert_worker_allreduce_algbw_bytes_per_second",
            "last step's allreduce: payload bytes / allreduce time (nccl-tests' algbw)");
    private final MetricsRegistry.Gauge busbw = registry.gauge("mert_worker_allreduce_busbw_bytes_per_second",
            "last step's allreduce: algbw * 2(n-1)/n, the bandwidth each link carried (nccl-tests' busbw)");

    MetricsRegistry registry() {
        return registry;
    }

    @Override
    public void onStep(long step, int world, StepTimings t, long payloadBytes) {
        steps.inc();
        lastStep.set(step + 1);
        worldSize.set(world);
        phases.observe(t.getDataMs() / 1000, "data");
        phases.observe(t.getComputeMs() / 1000, "compute");
        phases.observe(t.getAllreduceMs() / 1000, "allreduce");
        phases.observe(t.getUpdateMs() / 1000, "update");
        if (payloadBytes > 0 && t.getAllreduceMs() > 0) {
            allreduceBytes.add(payloadBytes);
            double bytesPerSecond = payloadBytes / (t.getAllreduceMs() / 1000);
            algbw.set(bytesPerSecond);
            busbw.set(bytesPerSecond * 2 * (world - 1) / world);
        }
    }
}
