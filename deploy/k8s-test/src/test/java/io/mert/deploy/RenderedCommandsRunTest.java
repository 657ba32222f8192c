package io.mert.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.Container;
import io.mert.data.DemoCorpus;
import io.mert.data.KMeansTeacher;
import io.mert.data.ManifestBuilder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static io.mert.deploy.RenderedChart.container;
import static io.mert.deploy.RenderedChart.values;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The wiring proof: the coordinator and worker containers exactly as the chart renders them
 * (command, args, env, config from the ConfigMap, volumes at the mount paths the config names)
 * run as local processes, form a cluster through the coordinator's advertised name and train; the
 * coordinator is SIGKILLed mid-run and started again with the same rendered command, as Kubernetes
 * reschedules the pod, and the run continues from its newest checkpoint with the same workers.
 */
class RenderedCommandsRunTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int STEPS = 8;
    private final List<Process> processes = new ArrayList<>();

    @AfterEach
    void killAll() {
        processes.forEach(Process::destroyForcibly);
    }

    @Test
    void theRenderedPodsFormAClusterAndTrain(@TempDir Path work) throws Exception {
        RenderedChart chart = RenderedChart.render(values(
                "workers.replicas", 2,
                "workers.threads", 1,
                "coordinator.javaOptions", List.of("-Xmx384m"),
                "workers.javaOptions", List.of("-Xmx768m"),
                "config.common", Map.of("seed", 7, "log_interval", 1),
                "config.model", Map.of("preset", "tiny"),
                "config.task.max_sample_size", 16000,
                "config.dataset.global_batch_size", 4,
                "config.optimization", Map.of("max_update", STEPS, "lr", List.of(0.005)),
                "config.lr_scheduler.warmup_updates", 1,
                "config.checkpoint", Map.of("save_interval_updates", 2, "keep_interval_updates", 2)));
        Container coordinator = container(chart.coordinator()), worker = container(chart.workers());

        // volumes: one local directory per volume, shared by the pods as the PVCs are
        Map<String, Path> mounts = LocalPods.directoriesFor(worker, work.resolve("volumes"));
        assertEquals(mounts, LocalPods.directoriesFor(coordinator, work.resolve("volumes")), "both roles mount the same volumes");
        String coordinatorAddress = ChartTemplateTest.argAfter(worker, "--join").orElseThrow();
        LocalPods pods = new LocalPods(LocalPods.service(coordinatorAddress), mounts);

        // the ConfigMap's config.yaml at /etc/mert, and the dataset laid out where its keys point
        String config = chart.trainConfigText();
        Files.writeString(Path.of(pods.path("/etc/mert/config.yaml")), pods.paths(config));
        @SuppressWarnings("unchecked")
        Map<String, Object> task = (Map<String, Object>) chart.trainConfig().get("task");
        Path manifest = Path.of(pods.path((String) task.get("data")));
        Path labels = Path.of(pods.path((String) task.get("label_dir")));
        Path audio = manifest.getParent().resolve("audio"); // within the dataset volume, as the README says
        Path corpus = work.resolve("corpus");
        DemoCorpus.generate(corpus, 6, 5);
        ManifestBuilder.build(ManifestBuilder.Options.defaults(corpus, audio, manifest).withValidFraction(0.1).withSeed(5));
        KMeansTeacher.run(KMeansTeacher.Options.defaults(manifest, labels).withK(8).withSeed(5));

        // the Secret the chart mounts: certificates from `mert certs`, as a user makes them
        assertEquals(0, io.mert.cli.Mert.execute("certs", "--out", pods.path("/etc/mert-tls"), "--san", "ip:127.0.0.1"));

        boolean httpSupported = supports("coordinator", "--http") && supports("worker", "--http");
        Path run = Path.of(pods.path(ChartTemplateTest.argAfter(coordinator, "--run-dir").orElseThrow()));
        LocalPods.Launch coordinatorPod = pods.launch(coordinator, "run1-mert-trainer-coordinator-0", httpSupported);
        Process c = start(coordinatorPod, work.resolve("coordinator.log"));
        List<LocalPods.Launch> workerPods = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            LocalPods.Launch w = pods.launch(worker, "run1-mert-trainer-worker-" + i, httpSupported);
            workerPods.add(w);
            start(w, work.resolve("worker-" + i + ".log"));
        }
        Path metrics = run.resolve("metrics.jsonl");
        awaitLines(metrics, 3, c, work.resolve("coordinator.log"));
        assertTrue(Files.isDirectory(run.resolve("checkpoints/step-000000002")), "checkpoint 2 precedes step 3");
        // the probes and the scrape the chart points at answer on the rendered --http addresses
        assertTrue(httpSupported, "the CLI serves --http");
        int coordinatorHttp = httpPort(coordinatorPod.command());
        assertEquals(200, httpGet(coordinatorHttp, "/healthz").statusCode());
        assertEquals(200, httpGet(coordinatorHttp, "/readyz").statusCode());
        String status = httpGet(coordinatorHttp, "/status").body();
        assertTrue(status.contains("\"members\":[\"run1-mert-trainer-worker-") && status.contains("\"step\":"), status);
        assertTrue(httpGet(coordinatorHttp, "/metrics").body().contains("mert_world_size 2"), "coordinator metrics");
        for (LocalPods.Launch w : workerPods) {
            int port = httpPort(w.command());
            assertEquals(200, httpGet(port, "/readyz").statusCode(), "a joined worker is ready");
            assertTrue(httpGet(port, "/metrics").body().contains("mert_worker_steps_total"), "worker metrics");
        }
        c.destroyForcibly(); // the node dies: SIGKILL
        c.waitFor();
        List<String> before = Files.readAllLines(metrics);
        for (int i = 0; i < before.size(); i++) {
            JsonNode m = JSON.readTree(before.get(i));
            assertEquals(i + 1, m.get("step").asInt());
            assertEquals(2, m.get("world_size").asInt(), "both rendered workers trained every step");
            assertTrue(Double.isFinite(m.get("loss").asDouble()) && m.get("loss").asDouble() > 0, before.get(i));
        }

        Process restarted = start(coordinatorPod, work.resolve("coordinator-restarted.log"));
        // generous: workers whose node shutdown hangs towards the killed coordinator are restarted after 30 s
        // (WorkerCommand's watchdog); one CI run of this test did not finish within 3 minutes, without logs
        long restartedAt = System.nanoTime();
        assertTrue(restarted.waitFor(5, TimeUnit.MINUTES), () -> "the run did not finish; the logs end with:\n" + logTails(work));
        System.out.printf("the restarted coordinator finished the run in %.1f s%n", (System.nanoTime() - restartedAt) / 1e9);
        String log = Files.readString(work.resolve("coordinator-restarted.log"));
        System.out.println(Files.readString(work.resolve("coordinator.log")) + "\n--- restarted ---\n" + log);
        assertEquals(0, restarted.exitValue(), log);
        assertTrue(log.contains("resuming"), log);
        for (Process p : processes) assertTrue(p.waitFor(1, TimeUnit.MINUTES), "workers exit when the run ends");

        List<String> lines = Files.readAllLines(metrics);
        JsonNode last = JSON.readTree(lines.get(lines.size() - 1));
        assertEquals(STEPS, last.get("step").asInt());
        assertEquals(2, last.get("world_size").asInt(), "both workers rejoined the restarted coordinator");
        // steps run both before the kill and after the resume produce the same loss: the same run continued
        Map<Integer, String> lossByStep = new java.util.HashMap<>();
        int repeated = 0;
        for (String line : lines) {
            JsonNode m = JSON.readTree(line);
            String previous = lossByStep.putIfAbsent(m.get("step").asInt(), m.get("loss").asText());
            if (previous != null) {
                repeated++;
                assertEquals(previous, m.get("loss").asText(), "loss of step " + m.get("step") + " after the resume");
            }
        }
        List<JsonNode> starts = new ArrayList<>();
        for (String e : Files.readAllLines(run.resolve("events.jsonl"))) {
            JsonNode n = JSON.readTree(e);
            if (n.get("event").asText().equals("coordinator_started")) starts.add(n);
        }
        assertEquals(2, starts.size());
        int resumedAt = starts.get(1).get("step").asInt();
        assertTrue(resumedAt >= 2, "the restarted coordinator starts at a checkpoint: " + starts.get(1));
        assertEquals(before.size() - resumedAt, repeated, "every step past the checkpoint ran again, with the same loss");
        // a worker wrote the checkpoints into the run directory the coordinator reads: the shared volume works
        assertTrue(Files.isRegularFile(run.resolve("checkpoints/step-00000000" + STEPS + "/model.safetensors")));
        assertEquals("step-00000000" + STEPS, Files.readString(run.resolve("checkpoints/LATEST")).trim());
        String events = Files.readString(run.resolve("events.jsonl"));
        assertTrue(events.contains("run1-mert-trainer-worker-0") && events.contains("run1-mert-trainer-worker-1"),
                "workers are named by $(POD_NAME): " + events);
    }

    /** The last lines of every pod's log: the temporary directory is gone once the test has failed. */
    private static String logTails(Path work) {
        StringBuilder b = new StringBuilder();
        try (var logs = Files.list(work)) {
            for (Path log : logs.filter(f -> f.toString().endsWith(".log")).sorted().toList()) {
                List<String> lines = Files.readAllLines(log);
                b.append("--- ").append(log.getFileName()).append(" ---\n");
                lines.subList(Math.max(0, lines.size() - 40), lines.size()).forEach(l -> b.append(l).append('\n'));
            }
        } catch (java.io.IOException e) {
            b.append("(logs unreadable: ").append(e).append(")\n");
        }
        return b.toString();
    }

    private static void awaitLines(Path file, int n, Process coordinator, Path log) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
        while (!Files.exists(file) || Files.readAllLines(file).size() < n) {
            if (!coordinator.isAlive()) fail("the coordinator exited: " + Files.readString(log));
            if (System.nanoTime() > deadline) fail(n + " steps not reached in 3 minutes: " + Files.readString(log));
            Thread.sleep(100);
        }
    }

    private Process start(LocalPods.Launch l, Path log) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(l.command()).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(l.env());
        Process p = pb.start();
        processes.add(p);
        return p;
    }

    private static boolean supports(String command, String option) {
        CommandLine cl = new CommandLine(new io.mert.cli.Mert()).getSubcommands().get(command);
        return cl.getCommandSpec().findOption(option) != null;
    }

    private static int httpPort(List<String> command) {
        int i = command.indexOf("--http");
        assertTrue(i >= 0, "no --http in " + command);
        return Integer.parseInt(command.get(i + 1).substring(command.get(i + 1).lastIndexOf(':') + 1));
    }

    private static java.net.http.HttpResponse<String> httpGet(int port, String path) throws Exception {
        return java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
                java.net.URI.create("http://127.0.0.1:" + port + path)).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
    }
}
