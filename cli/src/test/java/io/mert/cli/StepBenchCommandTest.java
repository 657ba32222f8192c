package io.mert.cli;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code mert bench step} at the smallest size: our side really trains in its own JVM, and when torch is
 * installed the PyTorch peer computes the same first-step loss from the same weights and batch (tiny has
 * no dropout), which proves the two sides time the same work.
 */
class StepBenchCommandTest {

    private static String run(String... args) throws Exception {
        StepBenchCommand cmd = new StepBenchCommand();
        new CommandLine(cmd).parseArgs(args);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
            assertEquals(0, cmd.run(out));
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    private static final String[] SMALL = {"--preset", "tiny", "--batch", "1", "--crop", "8000", "--threads", "1",
            "--seconds", "0.1", "--warmup", "1", "--min-steps", "2", "--heap", "512"};

    @Test
    void ourSideReportsStepsMemoryAndAProfileAndAMissingPythonIsAClearSkip() throws Exception {
        String[] args = java.util.stream.Stream.concat(java.util.Arrays.stream(SMALL),
                java.util.stream.Stream.of("--profile", "--python", "/nonexistent/python3")).toArray(String[]::new);
        String out = run(args);
        assertTrue(out.contains("pytorch: skipped: no Python interpreter '/nonexistent/python3'"), out);
        String row = out.lines().filter(l -> l.trim().startsWith("mert (SameDiff")).findFirst().orElseThrow(() -> new AssertionError(out));
        String[] f = row.trim().split("\\s+");
        // mert (SameDiff, nd4j-native) OMP_WAIT_POLICY steps ms samples/s rss MiB heap MiB loss
        assertEquals("PASSIVE", f[3], "our side sleeps idle OpenMP threads unless told otherwise: " + row);
        int steps = Integer.parseInt(f[4]);
        assertTrue(steps >= 2, row);
        double ms = Double.parseDouble(f[5]);
        assertEquals(1000.0 / ms, Double.parseDouble(f[6]), 0.01 + 1e-3 * 1000 / ms, "samples/s = batch / step time: " + row);
        assertTrue(Double.parseDouble(f[7]) > 0, "peak RSS: " + row);
        assertTrue(Double.isFinite(Double.parseDouble(f[f.length - 1])), "first loss: " + row);
        // the profile lists SameDiff ops by type with their time and calls (which ones lead varies with the load)
        assertTrue(out.contains("profile of our forward+backward"), out);
        long listed = out.lines().filter(l -> l.matches("\\s+[a-z_0-9]+\\s+[0-9.]+ ms\\s+[0-9.]+%\\s+[0-9]+ calls")).count();
        assertTrue(listed >= 10, "the profile lists the top op types:\n" + out);
        assertTrue(out.contains(" matmul") || out.contains(" im2col"), "the profile names the convolution and matmul ops:\n" + out);
    }

    @Test
    void torchComputesTheSameFirstStepLoss() throws Exception {
        Assumptions.assumeTrue(torchAvailable(), "python3 with torch and torchaudio is not installed");
        String out = run(SMALL);
        Matcher m = Pattern.compile("same computation: first-step loss differs by ([0-9.eE+-]+)").matcher(out);
        assertTrue(m.find(), out);
        assertTrue(Double.parseDouble(m.group(1)) < 1e-5, "relative loss difference: " + m.group(1) + "\n" + out);
        assertTrue(out.contains("step time  mert / pytorch = "), out);
        // the peer runs once with OpenMP's wait policy unset (what a PyTorch user gets) and once PASSIVE
        assertEquals(List.of("unset", "PASSIVE"), out.lines().filter(l -> l.trim().startsWith("pytorch (torchaudio"))
                .map(l -> l.substring(l.indexOf(')') + 1).trim().split("\\s+")[0]).toList(), out);
    }

    @Test
    void roundsRepeatTheSidesAndTheSummaryGivesTheRatiosMedianAndRange() throws Exception {
        String[] args = java.util.stream.Stream.concat(java.util.Arrays.stream(SMALL),
                java.util.stream.Stream.of("--rounds", "2", "--no-torch")).toArray(String[]::new);
        String out = run(args);
        assertTrue(out.contains("round 1 of 2") && out.contains("round 2 of 2"), out);
        assertEquals(2, out.lines().filter(l -> l.trim().startsWith("mert (SameDiff")).count(), out);
        assertTrue(out.contains("no ratios: the PyTorch peer did not run"), out);

        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (PrintStream p = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
            StepBenchReport.summary(p, List.of(new double[] {1.20, 0.92}, new double[] {0.95, 0.90}, new double[] {1.06, 0.91}));
        }
        String summary = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(summary.contains("over 3 rounds (median, range):"), summary);
        assertTrue(summary.contains("step time  mert / pytorch = 1.06x  (0.95x-1.20x; goal <= 1.00x: NOT met)"), summary);
        assertTrue(summary.contains("peak RSS   mert / pytorch = 0.91x  (0.90x-0.92x; goal <= 1.00x: met)"), summary);
    }

    private static boolean torchAvailable() throws Exception {
        try {
            Process p = new ProcessBuilder(io.mert.cli.bench.GlooBench.defaultPython(), "-c", "import torch, torchaudio")
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            return p.waitFor() == 0;
        } catch (java.io.IOException e) {
            return false;
        }
    }
}
