package io.mert.cli.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Locale;

/**
 * Host and process facts for a failure report, read from /proc (Linux; elsewhere the facts say they are unknown).
 * A stalled run is told apart from a slow one by these: a starved host shows load and heartbeat-delay warnings, a
 * collecting JVM long GC pauses, a spinning one CPU time that grows while its log is silent.
 */
final class NodeDiagnostics {

    /** Log lines that say nothing about a failure but can fill a whole tail: counted, not shown. */
    private static final List<String> NOISE = List.of("ImportClassMapping", "DifferentialFunction", "Scheduled sending of heartbeat was delayed",
            "heartbeat interval is growing too large");
    private static final String HEARTBEAT = "heartbeat";

    private NodeDiagnostics() {
    }

    /** {@code host: load 1.9 1.5 1.2, memory available 20.1 of 23.4 GiB, swap used 0 MiB, 2 cores, /dev/shm 505 of 12052 MiB used}. */
    static String host() {
        String load = firstLine(Path.of("/proc/loadavg"));
        String[] l = load == null ? new String[0] : load.split(" ");
        long total = meminfo("MemTotal:"), available = meminfo("MemAvailable:");
        long swapUsed = meminfo("SwapTotal:") - meminfo("SwapFree:");
        return String.format(Locale.ROOT, "host: load %s, memory available %.1f of %.1f GiB, swap used %d MiB, %d cores",
                l.length >= 3 ? l[0] + " " + l[1] + " " + l[2] : "unknown", available / 1048576.0, total / 1048576.0,
                swapUsed / 1024, Runtime.getRuntime().availableProcessors()) + shm();
    }

    /** How full the memory-backed file system is that Aeron's log buffers live in: a full one stops every stream. */
    private static String shm() {
        try {
            java.nio.file.FileStore s = Files.getFileStore(Path.of("/dev/shm"));
            return String.format(Locale.ROOT, ", /dev/shm %d of %d MiB used", (s.getTotalSpace() - s.getUsableSpace()) >> 20,
                    s.getTotalSpace() >> 20);
        } catch (IOException | RuntimeException e) {
            return ", /dev/shm unknown";
        }
    }

    /** {@code worker-0 pid 123 running: cpu 84.2 s, rss 1203 MiB, 61 threads; gc 12 pauses, 0.41 s, longest 0.08 s}. */
    static String process(String name, Process p, Path gcLog) {
        StringBuilder s = new StringBuilder(name).append(" pid ").append(p.pid());
        if (p.isAlive()) {
            s.append(" running");
            Path proc = Path.of("/proc", Long.toString(p.pid()));
            String stat = firstLine(proc.resolve("stat"));
            if (stat != null) {
                // fields after the command's closing parenthesis; utime and stime are the 12th and 13th of them
                String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                double cpu = (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0; // USER_HZ is 100 on Linux
                s.append(String.format(Locale.ROOT, ": state %s, cpu %.1f s, rss %d MiB, %s threads", f[0], cpu,
                        status(proc, "VmRSS:") / 1024, status(proc, "Threads:")));
            }
        } else {
            s.append(" exited ").append(p.exitValue());
        }
        return s.append("; ").append(gcPauses(gcLog)).toString();
    }

    /** {@code gc 12 pauses, 0.41 s, longest 0.08 s} from a {@code -Xlog:gc} file. */
    static String gcPauses(Path gcLog) {
        int pauses = 0;
        double total = 0, longest = 0;
        try {
            for (String line : Files.readAllLines(gcLog, StandardCharsets.UTF_8)) {
                if (!line.contains(" Pause ") || !line.endsWith("ms")) continue;
                double ms = Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1, line.length() - 2));
                pauses++;
                total += ms;
                longest = Math.max(longest, ms);
            }
        } catch (IOException | RuntimeException e) {
            return "gc unknown";
        }
        return String.format(Locale.ROOT, "gc %d pauses, %.2f s, longest %.2f s", pauses, total / 1000, longest / 1000);
    }

    /** The last {@code lines} lines of a log that are not {@link #NOISE}, under a header that counts what was left out. */
    static String tail(String name, Path log, int lines) {
        Deque<String> kept = new ArrayDeque<>();
        int noise = 0, heartbeats = 0;
        try {
            for (String line : Files.readAllLines(log, StandardCharsets.UTF_8)) {
                if (NOISE.stream().anyMatch(line::contains)) {
                    noise++;
                    if (line.contains(HEARTBEAT)) heartbeats++;
                    continue;
                }
                kept.addLast(line.length() > 300 ? line.substring(0, 300) + "..." : line);
                if (kept.size() > lines) kept.removeFirst();
            }
        } catch (IOException | RuntimeException e) {
            return "===== " + name + ": " + e + "\n";
        }
        StringBuilder out = new StringBuilder("===== ").append(name).append(" (last ").append(kept.size())
                .append(" lines; ").append(noise).append(" noise lines left out, ").append(heartbeats)
                .append(" of them heartbeat delays) =====\n");
        kept.forEach(l -> out.append(l).append('\n'));
        return out.toString();
    }

    private static String firstLine(Path file) {
        try {
            List<String> lines = Files.readAllLines(file);
            return lines.isEmpty() ? null : lines.get(0);
        } catch (IOException e) {
            return null;
        }
    }

    private static long meminfo(String key) {
        return status(Path.of("/proc"), key, "meminfo");
    }

    private static long status(Path proc, String key) {
        return status(proc, key, "status");
    }

    /** The first number on the line starting with {@code key} in {@code dir/file}; 0 when unknown. */
    private static long status(Path dir, String key, String file) {
        try {
            for (String line : Files.readAllLines(dir.resolve(file))) {
                if (line.startsWith(key)) return Long.parseLong(line.substring(key.length()).trim().split("\\s+")[0]);
            }
        } catch (IOException | RuntimeException e) {
            // unknown
        }
        return 0;
    }
}
