package io.mert.cli;

import io.mert.cli.bench.StepBenchSide;
import io.mert.cli.bench.StepBenchSpec;

import java.io.PrintStream;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/** The table {@code mert bench step} prints. */
final class StepBenchReport {

    private StepBenchReport() {
    }

    /** {@code torchRuns}: the peer once per OpenMP wait policy tried (may be empty); ratios use the fastest. */
    static void print(PrintStream out, StepBenchSpec spec, StepBenchSide ours, List<StepBenchSide> torchRuns) {
        out.printf(Locale.ROOT, "%n  %-36s %-15s %6s %9s %10s %10s %10s %11s%n", "side", "OMP_WAIT_POLICY", "steps",
                "ms/step", "samples/s", "peak RSS", "peak heap", "first loss");
        row(out, spec, ours);
        for (StepBenchSide t : torchRuns) row(out, spec, t);
        StepBenchSide torch = torchRuns.stream().min(Comparator.comparingDouble(StepBenchSide::medianStepMs)).orElse(null);
        out.printf(Locale.ROOT, "  mert: forward+backward %.1f ms, AdamW update %.1f ms (medians); %s%n",
                StepBenchSide.median(ours.computeMs()), StepBenchSide.median(ours.updateMs()), ours.detail());
        printProfile(out, ours);
        if (torch == null) return;
        out.printf(Locale.ROOT, "  pytorch: %s; ratios against its fastest run (OMP_WAIT_POLICY %s)%n", torch.detail(),
                torch.waitPolicy());
        double time = ours.medianStepMs() / torch.medianStepMs();
        double mem = (double) ours.peakRssBytes() / torch.peakRssBytes();
        out.printf(Locale.ROOT, "%n  step time  mert / pytorch = %.2fx  (goal <= 1.00x: %s)%n", time, time <= 1.0 ? "met" : "NOT met");
        out.printf(Locale.ROOT, "  peak RSS   mert / pytorch = %.2fx  (goal <= 1.00x: %s)%n", mem, mem <= 1.0 ? "met" : "NOT met");
        double lossGap = Math.abs(ours.firstLoss() - torch.firstLoss()) / Math.max(1e-12, Math.abs(torch.firstLoss()));
        if (spec.config().dropout() == 0 && spec.config().attentionDropout() == 0 && spec.config().dropoutInput() == 0) {
            out.printf(Locale.ROOT, "  same computation: first-step loss differs by %.1e (relative)%n", lossGap);
        } else {
            out.printf(Locale.ROOT, "  first-step losses differ by %.1e (relative; dropout draws differ between the sides)%n", lossGap);
        }
    }

    /** {step time, peak RSS} of ours over the peer's fastest run, or empty without a peer. */
    static Optional<double[]> ratios(StepBenchSide ours, List<StepBenchSide> torchRuns) {
        return torchRuns.stream().min(Comparator.comparingDouble(StepBenchSide::medianStepMs))
                .map(t -> new double[] {ours.medianStepMs() / t.medianStepMs(), (double) ours.peakRssBytes() / t.peakRssBytes()});
    }

    /** The median and range of each round's ratios ({@link #ratios}). */
    static void summary(PrintStream out, List<double[]> rounds) {
        if (rounds.isEmpty()) {
            out.printf(Locale.ROOT, "%n  no ratios: the PyTorch peer did not run%n");
            return;
        }
        double[] time = rounds.stream().mapToDouble(r -> r[0]).toArray(), mem = rounds.stream().mapToDouble(r -> r[1]).toArray();
        out.printf(Locale.ROOT, "%n  over %d rounds (median, range):%n", rounds.size());
        summaryLine(out, "step time  mert / pytorch", time);
        summaryLine(out, "peak RSS   mert / pytorch", mem);
    }

    private static void summaryLine(PrintStream out, String what, double[] v) {
        double median = StepBenchSide.median(v);
        out.printf(Locale.ROOT, "  %s = %.2fx  (%.2fx-%.2fx; goal <= 1.00x: %s)%n", what, median,
                Arrays.stream(v).min().orElse(Double.NaN), Arrays.stream(v).max().orElse(Double.NaN), median <= 1.0 ? "met" : "NOT met");
    }

    private static void printProfile(PrintStream out, StepBenchSide ours) {
        if (ours.profile() == null) return;
        var p = ours.profile();
        double wall = p.path("wall_ms").asDouble();
        double inOps = 0;
        for (var op : p.get("ops")) inOps += op.path("ms").asDouble();
        out.printf(Locale.ROOT, "%n  profile of our forward+backward (%d steps, %d forward ops + %d gradient ops): "
                        + "%.1f ms per step, %.1f ms inside ops, %.1f ms (%.0f%%) session bookkeeping%n",
                p.path("steps").asInt(), p.path("forward_ops").asInt(), p.path("gradient_ops").asInt(), wall, inOps,
                wall - inOps, 100 * (wall - inOps) / wall);
        int shown = 0;
        for (var op : p.get("ops")) {
            if (shown++ == 15) break;
            out.printf(Locale.ROOT, "    %-24s %8.1f ms %5.1f%%  %5d calls%n", op.path("op").asText(), op.path("ms").asDouble(),
                    100 * op.path("ms").asDouble() / wall, op.path("calls").asInt());
        }
    }

    private static void row(PrintStream out, StepBenchSpec spec, StepBenchSide s) {
        double ms = s.medianStepMs();
        out.printf(Locale.ROOT, "  %-36s %-15s %6d %9.1f %10.2f %10s %10s %11.4f%n", s.name(), s.waitPolicy(), s.stepMs().length, ms,
                spec.batch() * 1000.0 / ms, mib(s.peakRssBytes()), mib(s.peakHeapBytes()), s.firstLoss());
    }

    private static String mib(long bytes) {
        return bytes < 0 ? "-" : String.format(Locale.ROOT, "%.0f MiB", bytes / 1048576.0);
    }
}
