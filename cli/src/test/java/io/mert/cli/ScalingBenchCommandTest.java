package io.mert.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/** {@code mert bench scaling} at the smallest size: both runs train for real, and reach the same loss. */
class ScalingBenchCommandTest {

    @Test
    void oneAndTwoWorkersTrainTheSameRunAndTheEfficiencyIsTheRatioOfStepTimes() throws Exception {
        ScalingBenchCommand cmd = new ScalingBenchCommand();
        new CommandLine(cmd).parseArgs("--workers", "2", "--global-batch", "2", "--steps", "6", "--skip", "2", "--crop", "8000");
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
            assertEquals(0, cmd.run(out));
        }
        String out = bytes.toString(StandardCharsets.UTF_8);
        double one = stepMs(out, "1 worker x"), two = stepMs(out, "2 workers x");
        Matcher e = Pattern.compile("= ([0-9.]+)  \\(goal >= 0.90").matcher(out);
        assertTrue(e.find(), out);
        assertEquals(one / two, Double.parseDouble(e.group(1)), 0.006 + 0.005 * one / two, out);
        Matcher loss = Pattern.compile("final loss ([0-9.]+) vs ([0-9.]+)").matcher(out);
        assertTrue(loss.find(), out);
        double a = Double.parseDouble(loss.group(1)), b = Double.parseDouble(loss.group(2));
        assertEquals(a, b, 1e-4 * Math.abs(a), "1 and 2 workers follow the same trajectory: " + out);
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> {
            ScalingBenchCommand c = new ScalingBenchCommand();
            new CommandLine(c).parseArgs("--workers", "3", "--global-batch", "8");
            c.run(new PrintStream(new ByteArrayOutputStream()));
        });
        assertTrue(bad.getMessage().contains("not divisible by 3 workers"), bad.getMessage());
    }

    private static double stepMs(String out, String row) {
        String line = out.lines().filter(l -> l.trim().startsWith(row)).findFirst().orElseThrow(() -> new AssertionError(out));
        String[] f = line.trim().split("\\s+");
        return Double.parseDouble(f[f.length - 7]); // ms/step, ahead of samples/s, 4 phases and data/step
    }
}
