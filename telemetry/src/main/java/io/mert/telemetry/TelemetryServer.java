package io.mert.telemetry;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * A node's HTTP face: {@code /healthz} (liveness: the process serves), {@code /readyz} (readiness, from the
 * node), {@code /metrics} (Prometheus) and {@code /status} (JSON, coordinator only; 404 elsewhere). GET only,
 * two daemon threads, no request bodies read.
 */
public final class TelemetryServer implements AutoCloseable {

    private final HttpServer server;
    private final ExecutorService threads;

    private TelemetryServer(HttpServer server, ExecutorService threads) {
        this.server = server;
        this.threads = threads;
    }

    /**
     * @param status JSON for {@code /status}, or null when this node has none
     */
    public static TelemetryServer start(InetSocketAddress address, MetricsRegistry metrics, BooleanSupplier ready,
                                        Supplier<String> status) throws IOException {
        HttpServer server = HttpServer.create(address, 16);
        ExecutorService threads = Executors.newFixedThreadPool(2, r -> {
            Thread t = new Thread(r, "mert-telemetry");
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(threads);
        server.createContext("/healthz", ex -> reply(ex, 200, "text/plain", "ok\n"));
        server.createContext("/readyz", ex -> {
            boolean r = ready.getAsBoolean();
            reply(ex, r ? 200 : 503, "text/plain", r ? "ready\n" : "not ready\n");
        });
        server.createContext("/metrics", ex -> reply(ex, 200, "text/plain; version=0.0.4; charset=utf-8", metrics.scrape()));
        server.createContext("/status", ex -> {
            if (status == null) reply(ex, 404, "text/plain", "no status on this node\n");
            else reply(ex, 200, "application/json", status.get());
        });
        server.start();
        return new TelemetryServer(server, threads);
    }

    public int port() {
        return server.getAddress().getPort();
    }

    private static void reply(HttpExchange ex, int code, String type, String body) throws IOException {
        try (ex) {
            if (!ex.getRequestMethod().equals("GET") && !ex.getRequestMethod().equals("HEAD")) {
                code = 405;
                body = "GET only\n";
                type = "text/plain";
            } else if (!ex.getRequestURI().getPath().equals(ex.getHttpContext().getPath())) {
                code = 404;
                body = "not found\n";
                type = "text/plain";
            }
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().set("Content-Type", type);
            ex.sendResponseHeaders(code, ex.getRequestMethod().equals("HEAD") ? -1 : bytes.length);
            if (!ex.getRequestMethod().equals("HEAD")) {
                try (OutputStream out = ex.getResponseBody()) {
                    out.write(bytes);
                }
            }
        }
    }

    @Override
    public void close() {
        server.stop(0);
        threads.shutdownNow();
    }
}
