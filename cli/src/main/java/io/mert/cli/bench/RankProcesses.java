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
import java.util.concurrent.TimeUnit;

/**
 * Starts one JVM per rank ({@link AllReduceRankMain} or {@link ShmRankMain}), waits for them and collects their
 * {@code trial} lines: per size and trial the slowest rank's time and the ranks' summed CPU time.
 */
final class RankProcesses {

    private RankProcesses() {
    }

    static AllReduceBenchResult run(List<List<String>> commands, BenchPlan plan, Duration timeout) throws IOException, InterruptedException {
        int ranks = commands.size();
        List<Process> processes = new ArrayList<>();
        List<Path> logs = new ArrayList<>();
        List<Thread> readers = new ArrayList<>();
        Map<String, double[]> slowest = new HashMap<>(), cpu = new HashMap<>();
        try {
            for (int r = 0; r < ranks; r++) {
                Path log = Files.createTempFile("mert-bench-rank" + r + "-", ".log");
                logs.add(log);
                Process p = new ProcessBuilder(commands.get(r)).redirectError(log.toFile()).start();
                processes.add(p);
                Thread t = new Thread(() -> collect(p, plan.trials(), slowest, cpu), "bench-rank-reader-" + r);
                t.setDaemon(true);
                t.start();
                readers.add(t);
            }
            long deadline = System.nanoTime() + timeout.toNanos();
            for (int r = 0; r < ranks; r++) {
                Process p = processes.get(r);
                long left = deadline - System.nanoTime();
                if (!p.waitFor(Math.max(0, left), TimeUnit.NANOSECONDS)) {
                    throw new IOException("rank " + r + " did not finish within " + timeout.toSeconds() + " s; its log: " + logs.get(r));
                }
                if (p.exitValue() != 0) {
                    throw new IOException("rank " + r + " failed (exit " + p.exitValue() + "): " + tail(logs.get(r)));
                }
            }
            for (Thread t : readers) t.join();
        } finally {
            for (Process p : processes) p.destroyForcibly();
            for (int r = 0; r < logs.size(); r++) {
                Process p = processes.size() > r ? processes.get(r) : null;
                if (p != null && !p.isAlive() && p.exitValue() == 0) Files.deleteIfExists(logs.get(r));
            }
        }
        List<Timings> out = new ArrayList<>();
        double[] cpuPerOp = new double[plan.steps().size()];
        for (BenchPlan.Step s : plan.steps()) {
            String key = s.bytes() + ":" + s.iterations();
            double[] t = slowest.get(key);
            if (t == null) throw new IOException("the ranks reported no timings for " + s.bytes() + " bytes");
            cpuPerOp[out.size()] = new Timings(s.bytes(), s.iterations(), cpu.get(key)).secondsPerOp();
            out.add(new Timings(s.bytes(), s.iterations(), t));
        }
        return new AllReduceBenchResult(out, cpuPerOp);
    }

    /** Keeps, per size and trial, the slowest rank's time and the ranks' summed CPU time. */
    private static void collect(Process p, int trials, Map<String, double[]> slowest, Map<String, double[]> cpu) {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                if (line.startsWith(AllReduceRankMain.STATS)) System.err.println("  mert " + line.substring(AllReduceRankMain.STATS.length()).trim());
                if (!line.startsWith(AllReduceRankMain.TRIAL)) continue;
                String[] f = line.substring(AllReduceRankMain.TRIAL.length()).trim().split(" ");
                String key = f[0] + ":" + f[1];
                int trial = Integer.parseInt(f[2]);
                double seconds = Long.parseLong(f[3]) / 1e9;
                synchronized (slowest) {
                    double[] t = slowest.computeIfAbsent(key, k -> new double[trials]);
                    t[trial] = Math.max(t[trial], seconds);
                    cpu.computeIfAbsent(key, k -> new double[trials])[trial] += Long.parseLong(f[4]) / 1e9;
                }
            }
        } catch (IOException e) {
            // the process ended; its exit code and log tell why
        }
    }

    private static String tail(Path log) throws IOException {
        List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 15), lines.size())) + "\n(full log: " + log + ")";
    }
}
