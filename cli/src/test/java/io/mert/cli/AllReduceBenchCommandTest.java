package io.mert.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** {@code mert bench allreduce} at tiny sizes: rank JVMs really run (and check their sums), the table is complete. */
class AllReduceBenchCommandTest {

    private static String run(String... args) throws Exception {
        AllReduceBenchCommand cmd = new AllReduceBenchCommand();
        new CommandLine(cmd).parseArgs(args);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
            assertEquals(0, cmd.run(out));
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    @Test
    void threeRankProcessesProduceATableForBothWiresAndAMissingPythonIsAClearSkip() throws Exception {
        String out = run("--ranks", "3", "--bytes", "4K,96K", "--iters", "5", "--trials", "2", "--wire", "fp32,bf16",
                "--python", "/nonexistent/python3");
        assertTrue(out.contains("mert ipc: Aeron ring allreduce, 3 JVM processes"), out);
        assertTrue(out.contains("wire fp32,bf16"), out);
        assertTrue(out.contains("gloo: skipped: no Python interpreter '/nonexistent/python3'"), out);
        for (String size : List.of("4", "96")) {
            List<String> rows = out.lines().filter(l -> l.trim().startsWith(size + " KiB")).toList();
            assertEquals(2, rows.size(), "one row per wire for " + size + " KiB in\n" + out);
            for (int w = 0; w < 2; w++) {
                String line = rows.get(w);
                String[] f = line.trim().split("\\s+");
                // size unit iters via | time unit algbw busbw spread | gloo: - - - - | copy | ratios
                assertEquals("5", f[2], line);
                assertEquals(w == 0 ? "ipc/fp32" : "ipc/bf16", f[3], line);
                double algbw = Double.parseDouble(f[7]), busbw = Double.parseDouble(f[8]);
                // 4 KiB at 3 decimals of GB/s reads 0.000 when the shared machine stretches an operation past ~4 ms
                assertTrue(size.equals("4") ? algbw >= 0 : algbw > 0, line);
                assertEquals(algbw * 4 / 3, busbw, 0.0015 + 1e-3 * busbw, "busbw = algbw * 2(n-1)/n for n = 3: " + line);
                assertEquals("-", f[11], "no Gloo numbers: " + line);
                assertTrue(line.matches(".*\\| +[0-9.]+ (us|ms|s)$"), "the ranks' CPU time per operation ends the row: " + line);
            }
        }
    }

    @Test
    void theSharedMemoryTransportGetsItsOwnRowBesideTheAeronRing() throws Exception {
        String out = run("--ranks", "2", "--bytes", "4K,1M", "--iters", "5", "--trials", "2", "--transport", "ipc,shm",
                "--python", "/nonexistent/python3");
        assertTrue(out.contains("mert shm: shared-memory allreduce, 2 JVM processes"), out);
        for (String size : List.of("4 KiB", "1 MiB")) {
            List<String> rows = out.lines().filter(l -> l.trim().startsWith(size)).toList();
            assertEquals(2, rows.size(), "one row per transport for " + size + " in\n" + out);
            String[] ipc = rows.get(0).trim().split("\\s+"), shm = rows.get(1).trim().split("\\s+");
            assertEquals("ipc/fp32", ipc[3], rows.get(0));
            assertEquals("shm/fp32", shm[3], rows.get(1));
            double algbw = Double.parseDouble(shm[7]), busbw = Double.parseDouble(shm[8]);
            assertTrue(size.startsWith("4") ? algbw >= 0 : algbw > 0, rows.get(1));
            assertEquals(algbw, busbw, 0.0015 + 1e-3 * busbw, "busbw = algbw for n = 2: " + rows.get(1));
        }
        // one shared result: the rank processes check its sums as they do their own areas
        String shared = run("--ranks", "3", "--bytes", "1M", "--iters", "5", "--trials", "1", "--transport", "shm,shm-shared",
                "--python", "/nonexistent/python3");
        List<String> rows = shared.lines().filter(l -> l.trim().startsWith("1 MiB")).toList();
        assertEquals(2, rows.size(), shared);
        assertEquals("shm-shared/fp32", rows.get(1).trim().split("\\s+")[3], rows.get(1));
        // float32 only: a bf16-only run says why it has no shm row
        String bf16 = run("--ranks", "2", "--bytes", "4K", "--iters", "5", "--trials", "1", "--transport", "shm", "--wire", "bf16",
                "--python", "/nonexistent/python3");
        assertTrue(bf16.contains("mert shm: skipped (float32 only"), bf16);
    }

    @Test
    void glooRunsBesideOursWhenTorchIsInstalled() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(torchAvailable(), "python3 with torch.distributed is not installed");
        String out = run("--ranks", "2", "--bytes", "64K", "--iters", "5", "--trials", "2");
        assertTrue(out.contains("gloo: torch.distributed Gloo allreduce, 2 Python processes"), out);
        String line = out.lines().filter(l -> l.trim().startsWith("64 KiB")).findFirst().orElseThrow(() -> new AssertionError(out));
        String[] f = line.trim().split("\\s+");
        // the ratio from the times (same bytes, same n): the printed GB/s have too few digits when the shared machine is slow
        double ours = seconds(f[5], f[6]), gloo = seconds(f[11], f[12]);
        assertTrue(gloo > 0, line);
        double ratio = Double.parseDouble(f[19].replace("x", "")); // size unit iters wire | t unit algbw busbw spread | gloo t unit algbw busbw spread | copy | RATIO
        assertEquals(gloo / ours, ratio, 0.01 + 0.02 * ratio, "mert/gloo column: " + line);
    }

    private static double seconds(String value, String unit) {
        double v = Double.parseDouble(value);
        return switch (unit) {
            case "us" -> v * 1e-6;
            case "ms" -> v * 1e-3;
            case "s" -> v;
            default -> throw new AssertionError("unit " + unit);
        };
    }

    private static boolean torchAvailable() throws Exception {
        try {
            Process p = new ProcessBuilder(io.mert.cli.bench.GlooBench.defaultPython(), "-c", "import torch.distributed")
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            return p.waitFor() == 0;
        } catch (java.io.IOException e) {
            return false;
        }
    }
}
