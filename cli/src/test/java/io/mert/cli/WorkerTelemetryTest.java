package io.mert.cli;

import io.mert.protocol.control.StepTimings;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertTrue;

class WorkerTelemetryTest {

    @Test
    void allreduceBytesAndBandwidthFollowNcclTestsDefinitions() {
        WorkerTelemetry t = new WorkerTelemetry();
        StepTimings timings = StepTimings.newBuilder().setDataMs(10).setComputeMs(100).setAllreduceMs(50).setUpdateMs(5).build();
        t.onStep(0, 4, timings, 100_000_000);
        t.onStep(1, 4, timings, 100_000_000);
        t.onStep(2, 1, timings, 0); // alone: no allreduce, nothing counted
        String scrape = t.registry().scrape();
        assertTrue(scrape.contains("mert_worker_allreduce_bytes_total 2.0E8") || scrape.contains("mert_worker_allreduce_bytes_total 200000000"), scrape);
        // 1e8 B in 50 ms = 2e9 B/s; busbw = 2e9 * 2 * 3 / 4 = 3e9 B/s
        assertTrue(scrape.lines().anyMatch(l -> l.matches("mert_worker_allreduce_algbw_bytes_per_second 2(\\.0E9|000000000)")), scrape);
        assertTrue(scrape.lines().anyMatch(l -> l.matches("mert_worker_allreduce_busbw_bytes_per_second 3(\\.0E9|000000000)")), scrape);
        assertTrue(scrape.contains("mert_worker_steps_total 3"), scrape);
    }
}
