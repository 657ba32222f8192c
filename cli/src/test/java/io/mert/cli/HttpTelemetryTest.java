package io.mert.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** A real training run serving --http: the scrape follows the run, /status and `mert status` report it. */
class HttpTelemetryTest {

    private static HttpResponse<String> get(int port, String path) throws Exception {
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void aRunServesMetricsAndStatusWhileItTrains(@TempDir Path work) throws Exception {
        DemoPipeline.Prepared data = DemoPipeline.prepare(work.resolve("data"), 6, 4, 3, System.out);
        Path config = work.resolve("c.yaml");
        Files.writeString(config, DemoPipeline.config(data, work.resolve("run"), 1, 40, 8000)
                .withOverrides(List.of("dataset.global_batch_size=2")).toYaml());
        int port = LocalCluster.freePort();
        CompletableFuture<Integer> run = CompletableFuture.supplyAsync(() -> Mert.execute("train", "--config", config.toString(),
                "--local-workers", "1", "--http", "127.0.0.1:" + port));
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
        String status = "";
        while (!status.contains("\"step\":3") && !status.contains("\"step\":4")) {
            assertTrue(System.nanoTime() < deadline && !run.isDone(), "no step 3 in /status: " + status);
            Thread.sleep(200);
            try {
                status = get(port, "/status").body();
            } catch (java.io.IOException notYet) {
                // the server starts with the run
            }
        }
        assertTrue(status.contains("\"state\":\"training\"") && status.contains("\"max_update\":40"), status);
        assertTrue(status.contains("\"members\":[\"local-0\"]"), status);
        String metrics = get(port, "/metrics").body();
        assertTrue(metrics.contains("# TYPE mert_step_seconds histogram"), metrics);
        assertTrue(metrics.contains("# TYPE mert_checkpoint_seconds histogram"), metrics);
        assertTrue(metrics.contains("mert_world_size 1"), metrics);
        assertTrue(metrics.contains("mert_events_total{event=\"generation_started\"} 1"), metrics);
        assertTrue(metrics.lines().anyMatch(l -> l.startsWith("mert_step_phase_seconds{phase=\"compute\"}")), metrics);

        PrintStream old = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        int rc;
        try {
            rc = Mert.execute("status", "--coordinator", "127.0.0.1:" + port);
        } finally {
            System.setOut(old);
        }
        String printed = out.toString(StandardCharsets.UTF_8);
        assertEquals(0, rc, printed);
        assertTrue(printed.contains("state       training") && printed.contains("/ 40") && printed.contains("local-0")
                && printed.contains("eta"), printed);
        // no coordinator there: a clear error, exit 1
        assertEquals(1, Mert.execute("status", "--coordinator", "127.0.0.1:" + LocalCluster.freePort()));
        assertEquals(0, run.get(3, TimeUnit.MINUTES), "the run finishes (and its server closes)");
        assertThrows(java.io.IOException.class, () -> get(port, "/healthz"), "the server is gone with the run");
        // `mert train` also wrote TensorBoard scalars: every step's loss as metrics.jsonl has it, the final checkpoint's time
        Path runDir = work.resolve("run");
        var scalars = TensorBoardFiles.scalars(runDir.resolve(TensorBoardLog.DIR));
        assertEquals(TensorBoardFiles.lossFromMetrics(runDir), scalars.get("train/loss"));
        assertEquals(40, scalars.get("train/loss").size());
        assertTrue(scalars.get("checkpoint/duration_s").containsKey(40L), scalars.keySet().toString());
    }
}
