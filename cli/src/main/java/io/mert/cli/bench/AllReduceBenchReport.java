package io.mert.cli.bench;

import java.io.PrintStream;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The table of {@code mert bench allreduce}: per size and variant of ours (transport/wire, such as {@code ipc/fp32}
 * or {@code shm/fp32}), ours, Gloo's and the copy rate, and the ratios. Bandwidths count the float32 buffer's bytes whatever the wire format (what users compare:
 * a bf16 wire that halves the bytes on the wire shows as a higher busbw for the same buffer).
 */
public final class AllReduceBenchReport {

    private AllReduceBenchReport() {
    }

    /**
     * @param ours per variant (its label: transport/wire), timings in plan order
     * @param gloo empty when Gloo was skipped
     */
    public static void print(PrintStream out, int ranks, Map<String, AllReduceBenchResult> ours, List<Timings> gloo, List<Timings> copy) {
        out.println("  time/op: median over trials of the slowest rank's loop time / iterations; GB/s = 1e9 bytes/s");
        out.println("  algbw = float32 bytes / time (for either wire); busbw = algbw * 2(n-1)/n (nccl-tests); copy = one-thread memcpy of that size");
        out.println("  via = transport/wire of ours: ipc or udp (Aeron ring), shm (ranks read each other's buffers in shared memory;"
                + " shm-shared: one sum that every rank reads)");
        out.println("  mert cpu = CPU time of all rank JVMs per operation (median over trials; media driver not included)");
        out.printf(Locale.ROOT, "%9s %6s %15s | %10s %7s %7s %6s | %10s %7s %7s %6s | %7s | %9s %9s | %9s%n",
                "size", "iters", "via", "mert t/op", "algbw", "busbw", "spread", "gloo t/op", "algbw", "busbw", "spread",
                "copy", "busbw", "busbw", "mert cpu");
        out.printf(Locale.ROOT, "%9s %6s %15s | %10s %7s %7s %6s | %10s %7s %7s %6s | %7s | %9s %9s | %9s%n",
                "", "", "", "", "GB/s", "GB/s", "", "", "GB/s", "GB/s", "", "GB/s", "mert/gloo", "mert/copy", "per op");
        int sizes = copy.size();
        for (int i = 0; i < sizes; i++) {
            for (Map.Entry<String, AllReduceBenchResult> e : ours.entrySet()) {
                Timings m = e.getValue().timings().get(i);
                Timings c = copy.get(i);
                double mBus = Bandwidth.bus(m.bytes(), m.secondsPerOp(), ranks);
                double copyRate = Bandwidth.algorithmic(c.bytes(), c.secondsPerOp());
                String glooCols, ratio;
                if (gloo.isEmpty()) {
                    glooCols = String.format(Locale.ROOT, "%10s %7s %7s %6s", "-", "-", "-", "-");
                    ratio = "-";
                } else {
                    Timings g = gloo.get(i);
                    double gBus = Bandwidth.bus(g.bytes(), g.secondsPerOp(), ranks);
                    glooCols = String.format(Locale.ROOT, "%10s %7.3f %7.3f %5.0f%%", time(g.secondsPerOp()),
                            Bandwidth.algorithmic(g.bytes(), g.secondsPerOp()) / 1e9, gBus / 1e9, 100 * g.spread());
                    ratio = String.format(Locale.ROOT, "%.2fx", mBus / gBus);
                }
                out.printf(Locale.ROOT, "%9s %6d %15s | %10s %7.3f %7.3f %5.0f%% | %s | %7.2f | %9s %9s | %9s%n",
                        ByteSize.format(m.bytes()), m.iterations(), e.getKey(), time(m.secondsPerOp()),
                        Bandwidth.algorithmic(m.bytes(), m.secondsPerOp()) / 1e9, mBus / 1e9, 100 * m.spread(),
                        glooCols, copyRate / 1e9, ratio, String.format(Locale.ROOT, "%.2f", mBus / copyRate),
                        time(e.getValue().cpuSecondsPerOp()[i]));
            }
        }
    }

    static String time(double seconds) {
        if (seconds < 1e-3) return String.format(Locale.ROOT, "%.1f us", seconds * 1e6);
        if (seconds < 1) return String.format(Locale.ROOT, "%.2f ms", seconds * 1e3);
        return String.format(Locale.ROOT, "%.3f s", seconds);
    }
}
