package io.mert.cli.bench;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class NodeDiagnosticsTest {

    @Test
    void gcPausesAreSummedFromAnXlogGcFile(@TempDir Path dir) throws Exception {
        Path gc = dir.resolve("n.gc.log");
        Files.write(gc, List.of("[0.010s][info][gc] Using Serial",
                "[1.204s][info][gc] GC(0) Pause Young (Allocation Failure) 34M->5M(123M) 12.500ms",
                "[9.871s][info][gc] GC(1) Pause Full (Allocation Failure) 700M->690M(768M) 2487.500ms"));
        assertEquals("gc 2 pauses, 2.50 s, longest 2.49 s", NodeDiagnostics.gcPauses(gc));
        assertEquals("gc unknown", NodeDiagnostics.gcPauses(dir.resolve("missing.gc.log")));
    }

    @Test
    void aTailLeavesOutHeartbeatDelaysAndCountsThem(@TempDir Path dir) throws Exception {
        Path log = dir.resolve("w.log");
        Files.write(log, List.of("first", "second",
                "07:35:01.903 WARN  o.a.p.c.ClusterHeartbeat - Cluster Node [x] - Scheduled sending of heartbeat was delayed.",
                "07:35:02.021 WARN  o.a.p.r.PhiAccrualFailureDetector - heartbeat interval is growing too large for address x: 4545 millis",
                "third"));
        String tail = NodeDiagnostics.tail("w", log, 2);
        assertEquals("===== w (last 2 lines; 2 noise lines left out, 2 of them heartbeat delays) =====\nsecond\nthird\n", tail);
    }

    @Test
    void aProcessLineSaysWhetherItRunsAndHowMuchItUsed(@TempDir Path dir) throws Exception {
        // A child read right after start may still be R (exec); any state letter is fine.
        Process sleeper = new ProcessBuilder("sleep", "30").start();
        try {
            String line = NodeDiagnostics.process("sleeper", sleeper, dir.resolve("none"));
            assertTrue(line.matches("sleeper pid \\d+ running: state [A-Z], cpu \\d+\\.\\d s, rss \\d+ MiB, 1 threads; gc unknown"), line);
        } finally {
            sleeper.destroyForcibly().waitFor();
        }
        assertTrue(NodeDiagnostics.process("sleeper", sleeper, dir.resolve("none")).matches("sleeper pid \\d+ exited 137; gc unknown"));
        assertTrue(NodeDiagnostics.host().matches("host: load [0-9.]+ [0-9.]+ [0-9.]+, memory available [0-9.]+ of [0-9.]+ GiB, swap used \\d+ MiB, \\d+ cores, /dev/shm (\\d+ of \\d+ MiB used|unknown)"),
                NodeDiagnostics.host());
    }
}
