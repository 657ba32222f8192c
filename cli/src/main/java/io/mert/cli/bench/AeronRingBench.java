package io.mert.cli.bench;

import io.mert.allreduce.AllReduceConfig;
import io.mert.allreduce.EmbeddedDriver;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.DatagramSocket;
import java.net.InetAddress;
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
 * Our ring allreduce with every rank in its own JVM ({@link AllReduceRankMain}), all connected to one
 * embedded media driver in this process: over {@code ipc} the frames go through shared-memory log
 * buffers, over {@code udp} through the driver's sockets on 127.0.0.1.
 */
public final class AeronRingBench {

    public enum Transport { IPC, UDP }

    private final int ranks;
    private final Transport transport;
    private final AllReduceConfig config;
    private final Duration timeout;

    public AeronRingBench(int ranks, Transport transport, AllReduceConfig config, Duration timeout) {
        if (ranks < 2) throw new IllegalArgumentException("--ranks must be at least 2, got " + ranks);
        this.ranks = ranks;
        this.transport = transport;
        this.config = config;
        this.timeout = timeout;
    }

    /**
     * @param timings        per size in plan order
     * @param cpuSecondsPerOp per size: the CPU time of all rank processes together per operation (median over
     *                        trials), which other processes' load changes far less than wall time. The media
     *                        driver's CPU is not in it
     */
    public record Result(List<Timings> timings, double[] cpuSecondsPerOp) {
    }

    /** Runs the plan on fresh rank processes. */
    public Result run(BenchPlan plan) throws IOException, InterruptedException {
        try (EmbeddedDriver driver = EmbeddedDriver.launch()) {
            List<String> endpoints = endpoints();
            List<Process> processes = new ArrayList<>();
            List<Path> logs = new ArrayList<>();
            List<Thread> readers = new ArrayList<>();
            Map<String, double[]> slowest = new HashMap<>(), cpu = new HashMap<>();
            try {
                for (int r = 0; r < ranks; r++) {
                    Path log = Files.createTempFile("mert-bench-rank" + r + "-", ".log");
                    logs.add(log);
                    List<String> cmd = new ArrayList<>(JavaCommand.forMainClass(AllReduceRankMain.class, plan.largest()));
                    cmd.addAll(List.of(driver.aeronDirectoryName(), Integer.toString(r), plan.encode(),
                            Integer.toString(plan.trials()), Integer.toString(config.mtuBytes()),
                            Integer.toString(config.termLength()), config.wire().configName()));
                    cmd.addAll(endpoints);
                    Process p = new ProcessBuilder(cmd).redirectError(log.toFile()).start();
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
            return new Result(out, cpuPerOp);
        }
    }

    private List<String> endpoints() throws IOException {
        List<String> out = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            out.add(transport == Transport.IPC ? "aeron:ipc|" + (3000 + r) : "aeron:udp?endpoint=127.0.0.1:" + freeUdpPort() + "|7");
        }
        return out;
    }

    private static int freeUdpPort() throws IOException {
        try (DatagramSocket s = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
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
