package io.mert.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.mert.cli.bench.NodeProcesses;
import io.mert.model.config.ConfigTree;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.Predicate;

@Command(name = "recovery", mixinStandardHelpOptions = true,
        description = {"Time to recover from a lost worker and to admit a new one, with real processes on loopback: "
                + "a coordinator and N workers (UDP data plane) train the tiny preset; one worker is killed with SIGKILL, "
                + "then a fresh worker process joins.",
                "Prints kill -> loss detected, kill -> next completed step, and worker start -> first step with it."})
final class RecoveryBenchCommand implements Callable<Integer> {

    private static final ObjectMapper JSON = new ObjectMapper();

    @Option(names = "--workers", defaultValue = "2", description = "workers before the kill (default ${DEFAULT-VALUE})")
    int workers;

    @Option(names = "--trials", defaultValue = "1", description = "kill/join rounds in the same run (default ${DEFAULT-VALUE})")
    int trials;

    @Option(names = "--crop", defaultValue = "16000", description = "samples per clip (default ${DEFAULT-VALUE})")
    int crop;

    @Option(names = "--workdir", description = "where the corpus, run and node logs go (default: a temp directory, deleted after)")
    Path workdir;

    @Option(names = "--state-transfer", defaultValue = "aeron",
            description = "how the joiner gets the state: aeron (from a donor) or checkpoint (distributed_training.state_transfer; default ${DEFAULT-VALUE})")
    String stateTransfer;

    private Path tls;

    @Override
    public Integer call() throws Exception {
        return run(System.out);
    }

    /** One kill and one join: seconds from the kill to the coordinator's worker_lost event and to the next step, and of the join. */
    record Trial(double detectS, double recoverS, double joinS) {}

    int run(PrintStream out) throws Exception {
        if (workers < 2) throw new IllegalArgumentException("--workers must be >= 2 (one is killed, training must go on), got " + workers);
        if (trials < 1) throw new IllegalArgumentException("--trials must be >= 1, got " + trials);
        Path work = workdir != null ? workdir : Files.createTempDirectory("mert-bench-recovery-");
        List<Trial> results = new ArrayList<>();
        try {
            out.printf(Locale.ROOT, "mert bench recovery: tiny preset, %d worker processes + coordinator on loopback, %d trial(s); "
                    + "%d cores; joins via %s%n", workers, trials, Runtime.getRuntime().availableProcessors(), stateTransfer);
            DemoPipeline.Prepared data = DemoPipeline.prepare(work.resolve("data"), 10, 8, 3, out);
            Path run = work.resolve("run");
            ConfigTree tree = DemoPipeline.config(data, run, workers, 100_000, crop).withOverrides(List.of(
                    "dataset.global_batch_size=" + (2 * workers), "checkpoint.save_interval_updates=100000",
                    "common.log_interval=1", "distributed_training.state_transfer=" + stateTransfer));
            Path config = work.resolve("config.yaml");
            Files.writeString(config, tree.toYaml());
            tls = work.resolve("tls");
            new ClusterCertificates().create(tls, List.of("ip:127.0.0.1"), 2); // nodes talk mutual TLS, as in production
            try (NodeProcesses nodes = new NodeProcesses(work, Mert.class.getName())) {
                String coordinator = "127.0.0.1:" + LocalCluster.freePort();
                Process c = nodes.start("coordinator", List.of("coordinator", "--config", config.toString(), "--bind", coordinator,
                        "--tls-dir", tls.toString()));
                List<Process> alive = new ArrayList<>();
                int next = 0;
                for (; next < workers; next++) alive.add(startWorker(nodes, coordinator, next));
                Path metrics = run.resolve("metrics.jsonl"), events = run.resolve("events.jsonl");
                awaitLine(metrics, m -> m.get("world_size").asInt() == workers, c, nodes, "the first steps with " + workers + " workers");
                for (int t = 0; t < trials; t++) {
                    int stepsBefore = lines(metrics).size();
                    awaitLine(metrics, m -> m.get("step").asInt() >= stepsBefore + 3, c, nodes, "3 more steps");
                    int lostBefore = (int) lines(events).stream().filter(e -> e.get("event").asText().equals("worker_lost")).count();
                    Process victim = alive.remove(alive.size() - 1);
                    int stepsAtKill = lines(metrics).size();
                    long killed = System.currentTimeMillis();
                    victim.destroyForcibly(); // SIGKILL, possibly mid-step
                    JsonNode lost = awaitNth(events, e -> e.get("event").asText().equals("worker_lost"), lostBefore + 1, c, nodes,
                            "the coordinator to notice the kill");
                    JsonNode resumed = awaitLine(metrics, m -> m.get("world_size").asInt() == workers - 1
                                    && m.get("step").asInt() > stepsAtKill, c, nodes,
                            "a step without the killed worker");
                    long recovered = System.currentTimeMillis();
                    long joinStart = System.currentTimeMillis();
                    alive.add(startWorker(nodes, coordinator, next++));
                    int stepAfterLoss = resumed.get("step").asInt();
                    awaitLine(metrics, m -> m.get("world_size").asInt() == workers && m.get("step").asInt() > stepAfterLoss, c, nodes,
                            "a step with the new worker");
                    long joined = System.currentTimeMillis();
                    Trial r = new Trial((lost.get("time_ms").asLong() - killed) / 1000.0, (recovered - killed) / 1000.0,
                            (joined - joinStart) / 1000.0);
                    results.add(r);
                    out.printf(Locale.ROOT, "  trial %d: loss detected %.1f s, next step %.1f s after the kill; join %.1f s%n",
                            t + 1, r.detectS(), r.recoverS(), r.joinS());
                    printJoinState(out, events, joinStart);
                }
            }
        } catch (Exception e) {
            out.println("  the node logs are kept in " + work);
            throw e;
        }
        if (workdir == null) deleteTree(work);
        double recover = results.stream().mapToDouble(Trial::recoverS).max().orElseThrow();
        double join = results.stream().mapToDouble(Trial::joinS).max().orElseThrow();
        out.printf(Locale.ROOT, "%n  worst kill -> next step: %.1f s  (goal < 10 s: %s)%n", recover, recover < 10 ? "met" : "NOT met");
        out.printf(Locale.ROOT, "  worst join (process start -> first step with it): %.1f s  (goal < 20 s: %s)%n", join,
                join < 20 ? "met" : "NOT met");
        return 0;
    }

    /** Where the joiner's state came from: the donor transfer's size and time, or the checkpoint written for it. */
    private static void printJoinState(PrintStream out, Path events, long since) throws IOException {
        for (JsonNode e : lines(events)) {
            if (e.get("time_ms").asLong() < since) continue;
            switch (e.get("event").asText()) {
                case "state_transferred" -> out.printf(Locale.ROOT, "    state from donor %s over Aeron: %.2f MB in %.0f ms "
                        + "(generation start %.0f ms)%n", e.get("donor").asText(), e.get("bytes").asLong() / 1e6,
                        e.get("ms").asDouble(), e.get("generation_start_ms").asDouble());
                case "state_transfer_failed" -> out.printf(Locale.ROOT, "    state transfer FAILED: %s%n", e.get("reason").asText());
                case "checkpoint_saved" -> out.printf(Locale.ROOT, "    checkpoint written for the join: %s%n", e.get("path").asText());
                default -> { }
            }
        }
    }

    private Process startWorker(NodeProcesses nodes, String coordinator, int i) throws IOException {
        return nodes.start("worker-" + i, List.of("worker", "--join", coordinator, "--bind", "127.0.0.1:" + LocalCluster.freePort(),
                "--data-plane", "127.0.0.1:" + LocalCluster.freePort(), "--id", "w" + i, "--tls-dir", tls.toString()));
    }

    private static JsonNode awaitLine(Path file, Predicate<JsonNode> test, Process coordinator, NodeProcesses nodes, String what)
            throws Exception {
        return awaitNth(file, test, 1, coordinator, nodes, what);
    }

    private static JsonNode awaitNth(Path file, Predicate<JsonNode> test, int n, Process coordinator, NodeProcesses nodes,
                                     String what) throws Exception {
        long deadline = System.nanoTime() + Duration.ofMinutes(5).toNanos();
        while (true) {
            List<JsonNode> hits = lines(file).stream().filter(test).toList();
            if (hits.size() >= n) return hits.get(n - 1);
            if (!coordinator.isAlive() || System.nanoTime() > deadline) {
                throw new IllegalStateException("waited in vain for " + what + "; see " + nodes.log("coordinator"));
            }
            Thread.sleep(50);
        }
    }

    private static List<JsonNode> lines(Path file) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        if (!Files.exists(file)) return out;
        for (String line : Files.readAllLines(file)) {
            if (line.isBlank()) continue;
            try {
                out.add(JSON.readTree(line));
            } catch (JsonProcessingException partialLastLine) {
                // being written
            }
        }
        return out;
    }

    private static void deleteTree(Path dir) {
        try (var paths = Files.walk(dir)) {
            paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (Exception e) {
            // a temp directory left behind is harmless
        }
    }
}
