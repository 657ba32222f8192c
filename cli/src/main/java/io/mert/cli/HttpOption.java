package io.mert.cli;

import io.mert.telemetry.MetricsRegistry;
import io.mert.telemetry.TelemetryServer;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** {@code --http HOST:PORT}: serve /healthz, /readyz, /metrics (and /status on the coordinator) there. */
final class HttpOption {

    @Option(names = "--http", description = "HOST:PORT for /healthz, /readyz, /metrics (Prometheus) and, on the coordinator, "
            + "/status (JSON); off when not given")
    String http;

    /** Starts the server when {@code --http} was given; null otherwise. */
    TelemetryServer start(MetricsRegistry metrics, BooleanSupplier ready, Supplier<String> status) {
        if (http == null) return null;
        HostPort hp = HostPort.parse(http);
        try {
            return TelemetryServer.start(new InetSocketAddress(hp.host(), hp.port()), metrics, ready, status);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot serve --http " + http + ": " + e.getMessage(), e);
        }
    }
}
