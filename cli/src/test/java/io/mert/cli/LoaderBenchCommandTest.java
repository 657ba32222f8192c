package io.mert.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code mert bench loader} at the smallest size: a demo corpus is made, the worker's batch building runs
 * on it, a real training step is timed in its own JVM, and the printed figures agree with each other.
 */
class LoaderBenchCommandTest {

    @Test
    void loaderAndStepOnATinyDemoCorpus() throws Exception {
        LoaderBenchCommand cmd = new LoaderBenchCommand();
        new CommandLine(cmd).parseArgs("--preset", "tiny", "--batch", "2", "--crop", "8000", "--clips", "3",
                "--seconds", "0.2", "--min-batches", "2", "--threads", "1", "--step-seconds", "0.1", "--heap", "512");
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
            assertEquals(0, cmd.run(out));
        }
        String out = bytes.toString(StandardCharsets.UTF_8);
        Matcher l = Pattern.compile("then (\\d+) batches in ([0-9.]+) s: ([0-9.]+) ms per batch \\(median\\), ([0-9.]+) samples/s = "
                + "([0-9.]+) s of audio per second").matcher(out);
        assertTrue(l.find(), out);
        int batches = Integer.parseInt(l.group(1));
        assertTrue(batches >= 2, out);
        double samplesPerSecond = Double.parseDouble(l.group(4));
        assertEquals(batches * 2 / Double.parseDouble(l.group(2)), samplesPerSecond, 0.02 * samplesPerSecond + 0.1, out);
        assertEquals(samplesPerSecond * 8000 / 24000, Double.parseDouble(l.group(5)), 0.01 * samplesPerSecond + 0.1, out);
        Matcher s = Pattern.compile("step: ([0-9.]+) ms per training step").matcher(out);
        assertTrue(s.find(), out);
        Matcher r = Pattern.compile("loader / step = ([0-9.]+)").matcher(out);
        assertTrue(r.find(), out);
        assertEquals(Double.parseDouble(l.group(3)) / Double.parseDouble(s.group(1)), Double.parseDouble(r.group(1)),
                0.002 + 0.01 * Double.parseDouble(r.group(1)), out);
        assertTrue(out.contains("verdict: "), out);
    }
}
