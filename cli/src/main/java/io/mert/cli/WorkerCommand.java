package io.mert.cli;

import io.mert.allreduce.DataPlaneEndpoint;
import io.mert.allreduce.EmbeddedDriver;
import io.mert.protocol.pekko.TransportSecurity;
import io.mert.worker.WorkerSettings;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.time.Duration;
import java.util.concurrent.Callable;

@Command(name = "worker", mixinStandardHelpOptions = true,
        description = "Run a worker node that joins the coordinator at HOST:PORT and trains until told to stop.")
final class WorkerCommand implements Callable<Integer> {

    @Option(names = "--join", required = true, description = "the coordinator's HOST:PORT")
    String join;

    @Option(names = "--bind", defaultValue = "127.0.0.1:0", description = "this worker's cluster address (default ${DEFAULT-VALUE})")
    String bind;

    @Option(names = "--listen-host", description = "interface the cluster port listens on when it differs from the "
            + "--bind host, e.g. 0.0.0.0 (default: the --bind host)")
    String listenHost;

    @Option(names = "--data-plane", description = "HOST:PORT where this worker receives allreduce frames over UDP "
            + "(default: the --bind host and a free port)")
    String dataPlane;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu or cuda:N (cuda needs the cuda build)")
    String device;

    @Option(names = "--id", description = "worker name in logs and events (default: HOST-PORT of --bind)")
    String id;

    private static void sleep(Duration d) {
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @picocli.CommandLine.Mixin
    ClusterSecurityOptions security = new ClusterSecurityOptions();

    @picocli.CommandLine.Mixin
    HttpOption http = new HttpOption();

    @Override
    public Integer call() {
        TransportSecurity transport = security.resolve(System.out);
        HostPort self = HostPort.parse(bind);
        int port = self.port() == 0 ? LocalCluster.freePort() : self.port();
        HostPort data = dataPlane != null ? HostPort.parse(dataPlane) : new HostPort(self.host(), LocalCluster.freePort());
        String name = id != null ? id : self.host() + "-" + port;
        Threads.configureForWorkers(1);
        DataPlaneEndpoint endpoint = new DataPlaneEndpoint("aeron:udp?endpoint=" + data.host() + ":" + data.port(), 1001);
        System.out.println("worker " + name + " joining " + join + " (data plane udp " + data.host() + ":" + data.port() + ")");
        WorkerTelemetry telemetry = new WorkerTelemetry();
        java.util.concurrent.atomic.AtomicReference<WorkerNode> current = new java.util.concurrent.atomic.AtomicReference<>();
        io.mert.telemetry.TelemetryServer server = http.start(telemetry.registry(),
                () -> current.get() != null && current.get().isUp(), null); // ready: a cluster member, registered
        try (EmbeddedDriver driver = EmbeddedDriver.launch()) {
            // A worker outlives its coordinator: when the cluster is lost (the coordinator died and the
            // split-brain resolver downed this side), it starts a fresh node and waits for a restarted
            // coordinator (`mert resume`), which hands it the newest checkpoint.
            int nodePort = port;
            boolean restart = false;
            while (true) {
                WorkerNode node;
                try {
                    node = WorkerNode.start(self.host(), listenHost, nodePort, join, driver.aeronDirectoryName(),
                            new WorkerSettings(name, endpoint, device, telemetry), transport);
                } catch (RuntimeException e) {
                    if (!restart) throw e;
                    // the abandoned node may still hold the port: any port will do, workers are reached at
                    // the address they register with
                    nodePort = LocalCluster.freePort();
                    System.out.println("worker " + name + ": cannot start a node on the old port (" + e.getMessage()
                            + "); using port " + nodePort);
                    node = WorkerNode.start(self.host(), listenHost, nodePort, join, driver.aeronDirectoryName(),
                            new WorkerSettings(name, endpoint, device, telemetry), transport);
                }
                restart = true;
                current.set(node);
                awaitEnd(node, name);
                if (node.runFinished()) break;
                System.out.println("worker " + name + (node.dataPlaneLost() ? ": its Aeron client died; rejoining "
                        : ": lost the coordinator; waiting for it at ") + join);
                sleep(Duration.ofSeconds(2));
            }
        }
        if (server != null) server.close();
        return 0;
    }

    /** How long a node may take to finish shutting down before it is abandoned for a fresh one. */
    static final Duration SHUTDOWN_LIMIT = Duration.ofSeconds(30);

    /**
     * Waits until {@code node} has ended. A node whose shutdown hangs (seen once in CI: Artery flushing its
     * TLS transport towards a killed coordinator never finished) is abandoned after {@link #SHUTDOWN_LIMIT}
     * with its data plane closed, so that this worker can start a fresh node instead of waiting forever.
     */
    private static void awaitEnd(WorkerNode node, String name) {
        long shutdownSeen = -1;
        while (!node.awaitTermination(Duration.ofSeconds(2))) {
            if (!node.shuttingDown()) continue;
            long now = System.nanoTime();
            if (shutdownSeen < 0) {
                shutdownSeen = now;
            } else if (now - shutdownSeen > SHUTDOWN_LIMIT.toNanos()) {
                System.out.println("worker " + name + ": the old node did not finish shutting down within "
                        + SHUTDOWN_LIMIT.toSeconds() + " s; abandoning it");
                node.abandon();
                return;
            }
        }
    }
}
