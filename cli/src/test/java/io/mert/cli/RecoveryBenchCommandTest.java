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
 * {@code mert bench recovery} with real processes: a worker is SIGKILLed, the run goes on without it, a new
 * worker process joins, and the figures are consistent (detection before recovery; times positive).
 */
class RecoveryBenchCommandTest {

    @Test
    void aKilledWorkerIsDetectedTheRunGoesOnAndANewWorkerJoins() throws Exception {
        RecoveryBenchCommand cmd = new RecoveryBenchCommand();
        new CommandLine(cmd).parseArgs("--workers", "2", "--trials", "1", "--crop", "8000");
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
            assertEquals(0, cmd.run(out));
        }
        String out = bytes.toString(StandardCharsets.UTF_8);
        Matcher m = Pattern.compile("trial 1: loss detected ([0-9.]+) s, next step ([0-9.]+) s after the kill; join ([0-9.]+) s")
                .matcher(out);
        assertTrue(m.find(), out);
        double detect = Double.parseDouble(m.group(1)), recover = Double.parseDouble(m.group(2)), join = Double.parseDouble(m.group(3));
        assertTrue(detect > 0 && recover >= detect, "the next step comes after the loss is detected: " + out);
        assertTrue(join > 0, out);
        // separate JVMs over UDP: the joiner got the state from the surviving worker, not from a checkpoint
        assertTrue(out.contains("state from donor w0 over Aeron"), out);
        assertFalse(out.contains("checkpoint written for the join"), out);
        assertTrue(out.contains("worst kill -> next step:"), out);
    }
}
