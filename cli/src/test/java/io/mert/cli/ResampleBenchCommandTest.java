package io.mert.cli;

import io.mert.cli.bench.ResampleBench;
import io.mert.data.Resampler;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code mert bench resample} on half a second of audio: both sides really convert it, ours matches sox
 * within the reference test's SNR, and the printed ratio is the printed times' ratio.
 */
class ResampleBenchCommandTest {

    private static String run(String... args) throws Exception {
        ResampleBenchCommand cmd = new ResampleBenchCommand();
        new CommandLine(cmd).parseArgs(args);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
            assertEquals(0, cmd.run(out));
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    private static String[] fields(String out, String prefix) {
        String row = out.lines().filter(l -> l.startsWith(prefix)).findFirst()
                .orElseThrow(() -> new AssertionError("no row '" + prefix + "' in\n" + out));
        return row.substring(prefix.length()).trim().split("\\s+");
    }

    @Test
    void againstSoxTheRatioAndSnrAreReported() throws Exception {
        Assumptions.assumeTrue(soxRuns(), "sox is not installed");
        String out = run("--rates", "44100,22050", "--seconds", "0.5", "--trials", "1");
        for (int rate : new int[] {44100, 22050}) {
            // ours ms | x rt | sox ms | x rt | ours/sox | SNR dB | stop band dB >= Hz Hz
            String[] f = fields(out, "synthetic " + rate + " Hz 0.5 s");
            double ours = Double.parseDouble(f[0]), sox = Double.parseDouble(f[2]); // ms, printed to 0.1
            double rt = 500 / ours, ratio = ours / sox;
            assertEquals(rt, Double.parseDouble(f[1]), rt * (0.06 / ours + 0.01) + 0.1, "x real time = 0.5 s / ours: " + out);
            assertEquals(ratio, Double.parseDouble(f[4].replace("x", "")), ratio * (0.06 / ours + 0.06 / sox + 0.01) + 0.01,
                    "ours/sox: " + out);
            assertTrue(Double.parseDouble(f[5]) >= 60, rate + " Hz: SNR against sox below ResamplerSoxReferenceTest's 60 dB\n" + out);
            assertTrue(Double.parseDouble(f[7]) < -80, rate + " Hz: stop band\n" + out);
        }
    }

    @Test
    void withoutSoxOursAloneAndAClearSkip() throws Exception {
        String out = run("--rates", "16000", "--seconds", "0.3", "--trials", "1", "--sox", "/nonexistent/sox");
        assertTrue(out.contains("sox: skipped: '/nonexistent/sox' does not run"), out);
        String[] f = fields(out, "synthetic 16000 Hz 0.3 s");
        assertEquals("-", f[2], out);
        assertTrue(Double.parseDouble(f[0]) > 0, out);
    }

    /** The stop band measured from the impulse response is the Kaiser design's (beta 8.96: about 90 dB). */
    @Test
    void stopBandOfOurFilter() {
        for (int rate : new int[] {16000, 22050, 44100}) {
            double db = ResampleBench.stopBandDb(new Resampler(rate, 24000), Math.min(rate, 24000) / 2.0);
            assertTrue(db < -85 && db > -120, rate + " Hz: " + db + " dB");
        }
        // a filter with its cutoff above the band edge passes it: the measure is not blind
        assertTrue(ResampleBench.stopBandDb(new Resampler(44100, 24000), 10000) > -10);
    }

    private static boolean soxRuns() {
        try {
            return new ProcessBuilder("sox", "--version").redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor() == 0;
        } catch (Exception e) {
            return false;
        }
    }
}
