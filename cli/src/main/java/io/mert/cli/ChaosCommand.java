package io.mert.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.mert.cli.bench.NodeProcesses;
import io.mert.model.config.ConfigTree;
import io.mert.model.config.TrainConfig;
import io.mert.protocol.ShardPlan;
import io.mert.worker.SessionFactories;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;

@Command(name = "chaos", mixinStandardHelpOptions = true,
        description = {"Fault injection with real processes: a coordinator and N workers (mutual TLS, UDP data plane) train "
                + "the tiny preset while seeded faults hit them at random steps: a worker SIGKILLed (and replaced), a worker "
                + "stalled with SIGSTOP for a few seconds, the coordinator SIGKILLed and restarted with --resume-if-present.",
                "When the run has finished it checks: every step trained on exactly the samples the shard plan assigns "
                        + "(so each epoch covers the manifest once), steps 1..max_update are all there, losses are finite, "
                        + "and no rollback happened. Exit code 0 when all hold. Use many --faults for a soak."})
final class ChaosCommand implements java.util.concurrent.Callable<Integer> {

    private static final ObjectMapper JSON = new ObjectMapper();

    enum Fault { KILL_WORKER, STALL_WORKER, KILL_COORDINATOR }

    @Option(names = "--seed", description = "seed of the fault schedule (default: random, printed)")
    Long seed;

    @Option(names = "--faults", defaultValue = "3", description = "faults to inject; the first three are one of each kind (default ${DEFAULT-VALUE})")
    int faults;

    @Option(names = "--workers", defaultValue = "3", description = "worker processes (default ${DEFAULT-VALUE})")
    int workers;

    @Option(names = "--finish-within", defaultValue = "15", description = "minutes the run may take to finish after the last "
            + "fault before it counts as stuck (default ${DEFAULT-VALUE})")
    int finishWithinMinutes;

    @Option(names = "--workdir", description = "where the data, run and node logs go (default: a temp directory, kept on failure)")
    Path workdir;

    @Override
    public Integer call() throws Exception {
        return run(System.out);
    }

    int run(PrintStream out) throws Exception {
        if (workers < 2) throw new IllegalArgumentException("--workers must be >= 2, got " + workers);
        if (faults < 1) throw new IllegalArgumentException("--faults must be >= 1, got " + faults);
        long s = seed != null ? seed : new Random().nextLong();
        Random rnd = new Random(s);
        List<Fault> schedule = schedule(rnd, faults);
        int[] atStep = new int[faults];
        int step = 3;
        for (int i = 0; i < faults; i++) atStep[i] = step += 3 + rnd.nextInt(4);
        // Room after the last planned fault: a stalled worker holds the run for its ~5 s of detection, then the others
        // go on for the rest of the stall (up to 12 s, tens of steps), and a fault must still find the run going
        int maxUpdate = step + 6 + 40;
        Path work = workdir != null ? workdir : Files.createTempDirectory("mert-chaos-");
        out.printf("mert chaos: seed %d, %d workers, %d steps, faults %s at steps %s; logs in %s%n", s, workers, maxUpdate,
                schedule, java.util.Arrays.toString(atStep), work);

        DemoPipeline.Prepared data = DemoPipeline.prepare(work.resolve("data"), 10, 8, 3, out);
        Path run = work.resolve("run");
        ConfigTree tree = DemoPipeline.config(data, run, workers, maxUpdate, 8000).withOverrides(List.of(
                "dataset.global_batch_size=" + (2 * workers), "checkpoint.save_interval_updates=3", "common.log_interval=1",
                "distributed_training.min_world_size=1"));
        Path config = work.resolve("config.yaml");
        Files.writeString(config, tree.toYaml());
        Path tls = work.resolve("tls");
        new ClusterCertificates().create(tls, List.of("ip:127.0.0.1"), 2);
        String bind = "127.0.0.1:" + LocalCluster.freePort();
        List<String> coordinatorArgs = List.of("coordinator", "--config", config.toString(), "--bind", bind,
                "--resume-if-present", "--tls-dir", tls.toString());
        Path metrics = run.resolve("metrics.jsonl");
        boolean finished = false;
        String stuck = null, nodeReport = "";
        try (NodeProcesses nodes = new NodeProcesses(work, Mert.class.getName())) {
            int coordinatorStarts = 0;
            Process coordinator = nodes.start("coordinator-" + coordinatorStarts++, coordinatorArgs);
            List<Process> alive = new ArrayList<>();
            int nextWorker = 0;
            for (; nextWorker < workers; nextWorker++) alive.add(startWorker(nodes, bind, tls, nextWorker));
            try {
                int notBefore = 0;
                for (int i = 0; i < faults; i++) {
                    // never two faults at once: a fault due while the previous one lasted waits a few steps more
                    waitForStep(metrics, Math.max(atStep[i], notBefore), coordinator);
                    Fault f = schedule.get(i);
                    int victim = rnd.nextInt(alive.size());
                    out.printf("  step %d: %s%s%n", lastStep(metrics), f, f == Fault.KILL_COORDINATOR ? "" : " (worker process " + victim + ")");
                    switch (f) {
                        case KILL_WORKER -> {
                            alive.remove(victim).destroyForcibly();
                            alive.add(startWorker(nodes, bind, tls, nextWorker++));
                        }
                        case STALL_WORKER -> {
                            Process p = alive.get(victim);
                            signal(p, "STOP");
                            Thread.sleep(4000 + rnd.nextInt(8000)); // around the ~5 s it takes to be declared unreachable
                            signal(p, "CONT");
                        }
                        case KILL_COORDINATOR -> {
                            coordinator.destroyForcibly();
                            coordinator.waitFor();
                            coordinator = nodes.start("coordinator-" + coordinatorStarts++, coordinatorArgs);
                        }
                    }
                    notBefore = lastStep(metrics) + 3;
                }
                finished = coordinator.waitFor(finishWithinMinutes, TimeUnit.MINUTES) && coordinator.exitValue() == 0;
            } catch (IllegalStateException noProgress) {
                stuck = noProgress.getMessage();
            }
            if (!finished) nodeReport = nodes.report(15);
        }
        List<String> violations = check(tree, metrics, run.resolve("events.jsonl"), maxUpdate);
        if (!finished) violations.add(0, "the run did not finish cleanly" + (stuck == null ? "" : ": " + stuck) + " (see " + work + ")");
        if (violations.isEmpty()) {
            out.printf("  all properties hold: %d steps, every step's samples as planned; seed %d%n", maxUpdate, s);
            if (workdir == null) deleteTree(work);
            return 0;
        }
        out.println("  VIOLATIONS (seed " + s + ", logs in " + work + "):");
        violations.forEach(v -> out.println("    " + v));
        out.print(nodeReport);
        return 1;
    }

    /** One of each kind first (in random order), then random kinds. */
    static List<Fault> schedule(Random rnd, int n) {
        List<Fault> first = new ArrayList<>(List.of(Fault.values()));
        java.util.Collections.shuffle(first, rnd);
        List<Fault> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(i < first.size() ? first.get(i) : Fault.values()[rnd.nextInt(Fault.values().length)]);
        return out;
    }

    /** The properties a run must keep whatever hit it. */
    static List<String> check(ConfigTree tree, Path metrics, Path events, int maxUpdate) throws IOException {
        List<String> v = new ArrayList<>();
        TrainConfig cfg = SessionFactories.withLabelClasses(TrainConfig.from(tree));
        ShardPlan plan = RunSetup.plan(cfg);
        Map<Integer, Integer> seen = new HashMap<>();
        for (JsonNode m : lines(metrics)) {
            int step = m.get("step").asInt();
            seen.merge(step, 1, Integer::sum);
            int i = step - 1;
            long expected = 0;
            int[] all = plan.manifestIndices(i, 0, 1);
            for (int j = 0; j < all.length; j++) expected += ShardPlan.mix(all[j], plan.sampleSerial(i, 0, 1, j));
            if (!Long.toHexString(expected).equals(m.get("sample_digest").asText())) {
                v.add("step " + step + " trained on other samples than the shard plan assigns (digest "
                        + m.get("sample_digest").asText() + ", planned " + Long.toHexString(expected) + ")");
            }
            if (!Double.isFinite(m.get("loss").asDouble())) v.add("step " + step + ": loss " + m.get("loss"));
        }
        for (int step = 1; step <= maxUpdate; step++) if (!seen.containsKey(step)) v.add("step " + step + " never completed");
        for (JsonNode e : lines(events)) {
            if (e.get("event").asText().equals("rollback")) v.add("rollback: " + e);
        }
        return v;
    }

    private static Process startWorker(NodeProcesses nodes, String bind, Path tls, int i) throws IOException {
        return nodes.start("worker-" + i, List.of("worker", "--join", bind, "--bind", "127.0.0.1:" + LocalCluster.freePort(),
                "--data-plane", "127.0.0.1:" + LocalCluster.freePort(), "--id", "w" + i, "--tls-dir", tls.toString()));
    }

    private static void waitForStep(Path metrics, int step, Process coordinator) throws Exception {
        long deadline = System.nanoTime() + Duration.ofMinutes(5).toNanos();
        while (lastStep(metrics) < step) {
            if (System.nanoTime() > deadline) throw new IllegalStateException("no step " + step + " within 5 minutes");
            if (!coordinator.isAlive() && coordinator.exitValue() != 0) {
                throw new IllegalStateException("the coordinator exited with " + coordinator.exitValue() + " before step " + step);
            }
            Thread.sleep(100);
        }
    }

    private static int lastStep(Path metrics) throws IOException {
        List<JsonNode> l = lines(metrics);
        return l.isEmpty() ? 0 : l.get(l.size() - 1).get("step").asInt();
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

        private static void signal(Process p, String signal) throws Exception {
            int rc = new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).start().waitFor();
            if (rc != 0) throw new IOException("kill -" + signal + " " + p.pid() + " failed with " + rc);
        }

        private static void deleteTree(Path dir) {
            try (var paths = Files.walk(dir)) {
                paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            } catch (Exception e) {
                // a temp directory left behind is harmless
            }
        }
    }
