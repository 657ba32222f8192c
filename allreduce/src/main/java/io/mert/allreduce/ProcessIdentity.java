package io.mert.allreduce;

import java.time.Instant;
import java.util.Optional;

/**
 * Who owns a file left in shared memory: a pid and the process's start time. A SIGKILLed owner cannot clean up, so
 * whoever comes next checks whether the owner still runs; the start time tells a later process that was given the same
 * pid from the owner.
 */
final class ProcessIdentity {

    static final long PID = ProcessHandle.current().pid();
    /** This process's start (epoch ms), or 0 when the platform does not tell. */
    static final long STARTED_MILLIS = ProcessHandle.current().info().startInstant().map(Instant::toEpochMilli).orElse(0L);

    private ProcessIdentity() {
    }

    /**
     * Whether the process {@code pid} started at {@code startedMillis} still runs: its pid is alive and, when both
     * sides can tell, it started then (within a second; Linux counts starts in clock ticks). A stopped (SIGSTOP)
     * process runs.
     */
    static boolean running(long pid, long startedMillis) {
        Optional<ProcessHandle> p = ProcessHandle.of(pid).filter(ProcessHandle::isAlive);
        if (p.isEmpty()) return false;
        if (startedMillis == 0) return true;
        return p.get().info().startInstant().map(t -> Math.abs(t.toEpochMilli() - startedMillis) < 1000).orElse(true);
    }
}
