package io.mert.cli.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The peer: PyTorch's Gloo allreduce through {@code torch.distributed}, ranks as separate Python
 * processes on 127.0.0.1, run by {@code tools/bench/gloo_allreduce.py} with the same plan as ours.
 */
public final class GlooBench {

    public static final String SCRIPT = "tools/bench/gloo_allreduce.py";

    /** Timings per size, or why Gloo was not run. */
    public record Outcome(List<Timings> timings, String skipped) {
        static Outcome skipped(String why) {
            return new Outcome(List.of(), why);
        }
    }

    private final String python;
    private final Path script;
    private final Duration timeout;

    public GlooBench(String python, Path script, Duration timeout) {
        this.python = python;
        this.script = script;
        this.timeout = timeout;
    }

    /** /usr/bin/python3 when present (Debian's python3-torch lives there), else python3 from PATH. */
    public static String defaultPython() {
        return Files.isExecutable(Path.of("/usr/bin/python3")) ? "/usr/bin/python3" : "python3";
    }

    /** The peer script: in the working directory's checkout, or in the checkout this program was built in. */
    public static Optional<Path> findScript() {
        List<Path> roots = new ArrayList<>();
        roots.add(Path.of("").toAbsolutePath());
        try {
            Path code = Path.of(GlooBench.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            for (Path p = code; p != null; p = p.getParent()) roots.add(p);
        } catch (Exception e) {
            // no code source (unusual class loader): the working directory is all we have
        }
        return roots.stream().map(r -> r.resolve(SCRIPT)).filter(Files::isRegularFile).findFirst();
    }

    public Outcome run(int ranks, BenchPlan plan) throws IOException, InterruptedException {
        if (script == null || !Files.isRegularFile(script)) {
            return Outcome.skipped("peer script " + SCRIPT + " not found (run from the checkout or pass --gloo-script)");
        }
        String missing = probe();
        if (missing != null) return Outcome.skipped(missing);
        Path log = Files.createTempFile("mert-bench-gloo-", ".log");
        Process p = new ProcessBuilder(python, script.toString(), "--world-size", Integer.toString(ranks),
                "--plan", plan.encode(), "--trials", Integer.toString(plan.trials()))
                .redirectError(log.toFile()).start();
        Map<String, Timings> bySize = new HashMap<>();
        // read on a thread of its own so that a hung peer is caught by the timeout, not by a blocked read
        Thread reader = new Thread(() -> collect(p, bySize), "bench-gloo-reader");
        reader.setDaemon(true);
        reader.start();
        if (!p.waitFor(timeout.toSeconds(), TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            throw new IOException("Gloo benchmark did not finish within " + timeout.toSeconds() + " s; its log: " + log);
        }
        reader.join();
        if (p.exitValue() != 0) {
            throw new IOException("Gloo benchmark failed (exit " + p.exitValue() + "): " + Files.readString(log).strip()
                    + "\n(log: " + log + ")");
        }
        Files.deleteIfExists(log);
        List<Timings> out = new ArrayList<>();
        for (BenchPlan.Step s : plan.steps()) {
            Timings t;
            synchronized (bySize) {
                t = bySize.get(s.bytes() + ":" + s.iterations());
            }
            if (t == null) throw new IOException("the Gloo benchmark reported no timings for " + s.bytes() + " bytes");
            out.add(t);
        }
        return new Outcome(out, null);
    }

    private static void collect(Process p, Map<String, Timings> bySize) {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                String[] f = line.trim().split(" ");
                if (f.length != 4 || !f[0].equals("gloo")) continue;
                String[] t = f[3].split(",");
                double[] seconds = new double[t.length];
                for (int i = 0; i < t.length; i++) seconds[i] = Double.parseDouble(t[i]);
                synchronized (bySize) {
                    bySize.put(f[1] + ":" + f[2], new Timings(Long.parseLong(f[1]), Integer.parseInt(f[2]), seconds));
                }
            }
        } catch (IOException e) {
            // the process ended; its exit code and log tell why
        }
    }

    /** Null when {@code python} can import torch.distributed with Gloo, else what is missing. */
    private String probe() throws InterruptedException {
        try {
            Process p = new ProcessBuilder(python, "-c",
                    "import torch.distributed as d, sys; sys.exit(0 if d.is_available() and d.is_gloo_available() else 3)")
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return python + " took over 120 s to import torch";
            }
            return p.exitValue() == 0 ? null
                    : python + " cannot import torch.distributed with Gloo (on Debian: apt-get install python3-torch)";
        } catch (IOException e) {
            return "no Python interpreter '" + python + "' (" + e.getMessage() + ")";
        }
    }
}
