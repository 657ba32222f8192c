package io.mert.telemetry;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.*;

/** A real HTTP server on loopback, and the exposition format read by Prometheus' own Python parser. */
class TelemetryServerTest {

    private static HttpResponse<String> get(int port, String path) throws Exception {
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static MetricsRegistry sample() {
        MetricsRegistry m = new MetricsRegistry();
        m.gauge("mert_loss", "training loss of the last step").set(2.5);
        m.counter("mert_events_total", "run events by kind", "event").inc("worker_lost");
        m.counter("mert_events_total_other", "another \"quoted\" help\nline").add(3);
        MetricsRegistry.Histogram h = m.histogram("mert_step_seconds", "step wall time", new double[] {0.1, 1, 10});
        h.observe(0.05);
        h.observe(0.5);
        h.observe(20);
        m.gauge("mert_step_phase_seconds", "per phase", "phase").set(0.25, "all\"reduce\\n");
        return m;
    }

    @Test
    void endpointsAnswerAsSpecified() throws Exception {
        AtomicBoolean ready = new AtomicBoolean(false);
        try (TelemetryServer s = TelemetryServer.start(new InetSocketAddress("127.0.0.1", 0), sample(), ready::get, () -> "{\"step\":7}")) {
            assertEquals(200, get(s.port(), "/healthz").statusCode());
            assertEquals(503, get(s.port(), "/readyz").statusCode());
            ready.set(true);
            assertEquals(200, get(s.port(), "/readyz").statusCode());
            HttpResponse<String> metrics = get(s.port(), "/metrics");
            assertEquals(200, metrics.statusCode());
            assertTrue(metrics.headers().firstValue("Content-Type").orElse("").startsWith("text/plain; version=0.0.4"));
            assertTrue(metrics.body().contains("mert_loss 2.5\n"), metrics.body());
            assertTrue(metrics.body().contains("mert_step_seconds_bucket{le=\"1\"} 2\n"), metrics.body());
            assertTrue(metrics.body().contains("mert_step_seconds_bucket{le=\"+Inf\"} 3\n"), metrics.body());
            assertEquals("{\"step\":7}", get(s.port(), "/status").body());
            assertEquals(404, get(s.port(), "/nothing").statusCode());
        }
        try (TelemetryServer s = TelemetryServer.start(new InetSocketAddress("127.0.0.1", 0), sample(), () -> true, null)) {
            assertEquals(404, get(s.port(), "/status").statusCode(), "workers have no status");
        }
    }

    @Test
    void prometheusOwnParserReadsTheScrape() throws Exception {
        String python = Files.isExecutable(Path.of("/usr/bin/python3")) ? "/usr/bin/python3" : "python3";
        Process probe;
        try {
            probe = new ProcessBuilder(python, "-c", "import prometheus_client.parser").redirectErrorStream(true).start();
        } catch (java.io.IOException e) {
            Assumptions.abort("no python3");
            return;
        }
        Assumptions.assumeTrue(probe.waitFor() == 0, "python3-prometheus-client is not installed");
        Path text = Files.createTempFile("scrape", ".txt");
        Files.writeString(text, sample().scrape());
        String script = """
                import sys
                from prometheus_client.parser import text_string_to_metric_families
                for f in text_string_to_metric_families(open(sys.argv[1]).read()):
                    for s in f.samples:
                        print(f.type, s.name, sorted(s.labels.items()), s.value)
                """;
        Process p = new ProcessBuilder(python, "-c", script, text.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        assertTrue(out.contains("gauge mert_loss [] 2.5"), out);
        assertTrue(out.contains("counter mert_events_total [('event', 'worker_lost')] 1.0"), out);
        assertTrue(out.contains("histogram mert_step_seconds_bucket [('le', '10')] 2.0"), out);
        assertTrue(out.contains("histogram mert_step_seconds_bucket [('le', '0.1')] 1.0"), out);
        assertTrue(out.contains("histogram mert_step_seconds_sum [] 20.55"), out);
        assertTrue(out.contains("gauge mert_step_phase_seconds [('phase', 'all\"reduce\\\\n')] 0.25"), out);
    }

    @Test
    void badNamesAndNegativeCountsAreRefused() {
        MetricsRegistry m = new MetricsRegistry();
        assertThrows(IllegalArgumentException.class, () -> m.gauge("bad-name", "x"));
        assertThrows(IllegalArgumentException.class, () -> m.counter("ok", "x", "__reserved"));
        MetricsRegistry.Counter c = m.counter("c_total", "x");
        assertThrows(IllegalArgumentException.class, () -> c.add(-1));
        assertThrows(IllegalArgumentException.class, () -> m.gauge("c_total", "again"));
    }
}
