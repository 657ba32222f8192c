package io.mert.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.mert.cli.bench.NodeProcesses;
import io.mert.model.config.ConfigTree;
import io.mert.model.config.TrainConfig;
import io.mert.protocol.ShardPlan;
import io.mert.worker.SessionFactories;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Real separate JVMs on loopback: a coordinator and two workers (UDP data plane); one worker is
 * killed with SIGKILL mid-run. The run must finish with the survivor, every step must have trained
 * on exactly the samples the shard plan assigns to it (no sample lost or doubled), and the world
 * size must drop from 2 to 1 at a generation change.
 */
class ProcessFaultTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private NodeProcesses nodes;

    /** Every node of these tests talks mutual TLS, with certificates from `mert certs`. */
    @org.junit.jupiter.api.io.TempDir
    static Path certs;

    @org.junit.jupiter.api.BeforeAll
    static void clusterCertificates() throws Exception {
        new ClusterCertificates().create(certs.resolve("tls"), List.of("ip:127.0.0.1"), 2);
    }

    @AfterEach
    void killAll() {
        if (nodes != null) nodes.close();
    }

    /** Starts {@code mert args... --tls-dir ...} as the process {@code name}, logging to {@code work/name.log}. */
    private Process start(Path work, String name, String... args) throws Exception {
        if (nodes == null) nodes = new NodeProcesses(work, Mert.class.getName());
        List<String> cmd = new ArrayList<>(List.of(args));
        cmd.addAll(List.of("--tls-dir", certs.resolve("tls").toString()));
        return nodes.start(name, cmd);
    }

    @Test
    void aKilledWorkerProcessIsReplacedByANewGenerationWithoutLosingASample(@TempDir Path work) throws Exception {
        DemoPipeline.Prepared data = DemoPipeline.prepare(work.resolve("data"), 10, 8, 5, System.out);
        Path run = work.resolve("run");
        ConfigTree tree = DemoPipeline.config(data, run, 2, 12, 16000).withOverrides(List.of(
                "dataset.global_batch_size=4", "checkpoint.save_interval_updates=100", "common.log_interval=1"));
        Path config = work.resolve("config.yaml");
        Files.writeString(config, tree.toYaml());
        int port = LocalCluster.freePort();
        String coordinator = "127.0.0.1:" + port;

        Process c = start(work, "coordinator", "coordinator", "--config", config.toString(), "--bind", coordinator);
        start(work, "worker-a", "worker", "--join", coordinator, "--bind", "127.0.0.1:" + LocalCluster.freePort(),
                "--data-plane", "127.0.0.1:" + LocalCluster.freePort(), "--id", "a");
        Process victim = start(work, "worker-b", "worker", "--join", coordinator, "--bind",
                "127.0.0.1:" + LocalCluster.freePort(), "--data-plane", "127.0.0.1:" + LocalCluster.freePort(), "--id", "b");

        Path metrics = run.resolve("metrics.jsonl");
        MetricsLog.await(metrics, 3, m -> true, c::isAlive, "3 steps; see " + work.resolve("coordinator.log"));
        victim.destroyForcibly(); // SIGKILL
        assertTrue(c.waitFor(4, TimeUnit.MINUTES), () -> "the run did not finish after the kill: " + nodes.report(20, "coordinator", "worker-a"));
        assertEquals(0, c.exitValue(), Files.readString(work.resolve("coordinator.log")));

        List<String> steps = Files.readAllLines(metrics);
        assertEquals(12, steps.size());
        TrainConfig cfg = SessionFactories.withLabelClasses(TrainConfig.from(tree));
        int datasetSize = RunSetup.datasetSize(cfg);
        ShardPlan plan = new ShardPlan(cfg.seed(), cfg.globalBatch(), datasetSize);
        boolean sawTwo = false, sawOne = false;
        for (int i = 0; i < steps.size(); i++) {
            JsonNode m = JSON.readTree(steps.get(i));
            assertEquals(i + 1, m.get("step").asInt());
            long expected = 0;
            int[] all = plan.manifestIndices(i, 0, 1);
            for (int j = 0; j < all.length; j++) expected += ShardPlan.mix(all[j], plan.sampleSerial(i, 0, 1, j));
            assertEquals(Long.toHexString(expected), m.get("sample_digest").asText(), "samples of step " + (i + 1));
            sawTwo |= m.get("world_size").asInt() == 2;
            sawOne |= m.get("world_size").asInt() == 1;
        }
        assertTrue(sawTwo && sawOne, "world size must go from 2 to 1");
        String events = Files.readString(run.resolve("events.jsonl"));
        assertTrue(events.contains("\"worker_lost\"") && events.contains("\"worker\":\"b\""), events);
    }

    @Test
    void workersWaitForARestartedCoordinatorWhichResumesFromTheNewestCheckpoint(@TempDir Path work) throws Exception {
        DemoPipeline.Prepared data = DemoPipeline.prepare(work.resolve("data"), 10, 8, 6, System.out);
        Path run = work.resolve("run");
        ConfigTree tree = DemoPipeline.config(data, run, 2, 16, 16000).withOverrides(List.of(
                "dataset.global_batch_size=4", "checkpoint.save_interval_updates=3", "common.log_interval=1"));
        Path config = work.resolve("config.yaml");
        Files.writeString(config, tree.toYaml());
        String coordinator = "127.0.0.1:" + LocalCluster.freePort();
        Process c = start(work, "coordinator", "coordinator", "--config", config.toString(), "--bind", coordinator);
        Process[] workers = new Process[2];
        for (int i = 0; i < 2; i++) {
            workers[i] = start(work, "worker-" + i, "worker", "--join", coordinator, "--bind",
                    "127.0.0.1:" + LocalCluster.freePort(), "--data-plane", "127.0.0.1:" + LocalCluster.freePort(), "--id", "w" + i);
        }
        Path metrics = run.resolve("metrics.jsonl");
        MetricsLog.await(metrics, 4, m -> true, c::isAlive, "4 steps; see " + work.resolve("coordinator.log"));
        assertTrue(Files.isDirectory(run.resolve("checkpoints/step-000000003")), "checkpoint 3 is written before step 4 runs");
        c.destroyForcibly(); // SIGKILL the coordinator
        c.waitFor();
        long newest;
        try (var dirs = Files.list(run.resolve("checkpoints"))) {
            newest = dirs.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("step-"))
                    .mapToLong(n -> Long.parseLong(n.substring(5))).max().orElseThrow();
        }
        for (Process w : workers) assertTrue(w.isAlive(), "workers keep running without a coordinator");

        Process resumed = start(work, "resumed", "resume", "--run-dir", run.toString(), "--local-workers", "0",
                "--bind", coordinator);
        assertTrue(resumed.waitFor(4, TimeUnit.MINUTES), () -> "the resumed run did not finish: " + nodes.report(20, "worker-0", "worker-1", "resumed"));
        assertEquals(0, resumed.exitValue(), Files.readString(work.resolve("resumed.log")));
        for (Process w : workers) assertTrue(w.waitFor(1, TimeUnit.MINUTES), "workers exit when the run ends");

        List<String> steps = Files.readAllLines(metrics);
        JsonNode last = JSON.readTree(steps.get(steps.size() - 1));
        assertEquals(16, last.get("step").asInt());
        assertEquals(2, last.get("world_size").asInt(), "both workers rejoined");
        List<JsonNode> starts = new ArrayList<>();
        for (String e : Files.readAllLines(run.resolve("events.jsonl"))) {
            JsonNode n = JSON.readTree(e);
            if (n.get("event").asText().equals("coordinator_started")) starts.add(n);
        }
        assertEquals(2, starts.size());
        assertEquals(newest, starts.get(1).get("step").asLong(), "the restarted coordinator starts at the newest checkpoint");
    }

    @Test
    void aStalledWorkerIsDroppedAndRejoinsWhenItWakesUp(@TempDir Path work) throws Exception {
        DemoPipeline.Prepared data = DemoPipeline.prepare(work.resolve("data"), 10, 8, 7, System.out);
        Path run = work.resolve("run");
        ConfigTree tree = DemoPipeline.config(data, run, 2, 400, 16000).withOverrides(List.of(
                "dataset.global_batch_size=4", "checkpoint.save_interval_updates=1000", "common.log_interval=1"));
        Path config = work.resolve("config.yaml");
        Files.writeString(config, tree.toYaml());
        String coordinator = "127.0.0.1:" + LocalCluster.freePort();
        Process c = start(work, "coordinator", "coordinator", "--config", config.toString(), "--bind", coordinator);
        start(work, "worker-a", "worker", "--join", coordinator, "--bind", "127.0.0.1:" + LocalCluster.freePort(),
                "--data-plane", "127.0.0.1:" + LocalCluster.freePort(), "--id", "a");
        Process stalled = start(work, "worker-b", "worker", "--join", coordinator, "--bind",
                "127.0.0.1:" + LocalCluster.freePort(), "--data-plane", "127.0.0.1:" + LocalCluster.freePort(), "--id", "b");
        Path metrics = run.resolve("metrics.jsonl");
        String log = "; see " + work.resolve("coordinator.log");
        MetricsLog.await(metrics, 3, m -> true, c::isAlive, "3 steps" + log);
        signal(stalled, "STOP");
        JsonNode alone = MetricsLog.await(metrics, 1, m -> m.get("world_size").asInt() == 1, c::isAlive, "a step without b" + log);
        signal(stalled, "CONT");
        JsonNode back = MetricsLog.await(metrics, 1, m -> m.get("world_size").asInt() == 2
                && m.get("generation").asInt() > alone.get("generation").asInt(), c::isAlive, "b back in" + log);
        assertTrue(back.get("step").asInt() > alone.get("step").asInt());
        String events = Files.readString(run.resolve("events.jsonl"));
        assertTrue(events.contains("\"worker_lost\"") && events.contains("\"worker\":\"b\""), events);
        assertFalse(events.contains("\"rollback\""), "the rejoined worker holds the same parameters: " + events);
    }

    private static void signal(Process p, String signal) throws Exception {
        assertEquals(0, new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).start().waitFor());
    }
}
