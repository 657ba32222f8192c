package io.mert.cli;

import io.mert.coordinator.CoordinatorSettings;
import io.mert.protocol.pekko.TransportSecurity;
import io.mert.model.config.TrainConfig;
import io.mert.worker.SessionFactories;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;

@Command(name = "coordinator", mixinStandardHelpOptions = true,
        description = "Run the coordinator node; workers join it with `mert worker --join HOST:PORT`.")
final class CoordinatorCommand implements Callable<Integer> {

    @Option(names = "--config", required = true, description = "training config (YAML)")
    Path config;

    @Parameters(arity = "0..*", paramLabel = "key=value", description = "config overrides")
    List<String> overrides = new ArrayList<>();

    @Option(names = "--bind", required = true, description = "HOST:PORT workers join (pass the same to `mert worker "
            + "--join`); the coordinator also listens there unless --listen-host says otherwise")
    String bind;

    @Option(names = "--listen-host", description = "interface to listen on when it differs from the --bind host, "
            + "e.g. 0.0.0.0 in a Kubernetes pod whose --bind host is its stable DNS name (default: the --bind host)")
    String listenHost;

    @Option(names = "--run-dir", description = "run directory (default: checkpoint.save_dir)")
    Path runDir;

    @Option(names = "--resume-if-present", description = "when the run directory already holds a valid checkpoint, "
            + "continue that run as `mert resume` does (its recorded config wins) instead of refusing to start; "
            + "for restarted coordinators, e.g. a rescheduled Kubernetes pod")
    boolean resumeIfPresent;

    @picocli.CommandLine.Mixin
    ClusterSecurityOptions security = new ClusterSecurityOptions();

    @picocli.CommandLine.Mixin
    HttpOption http = new HttpOption();

    @Override
    public Integer call() throws Exception {
        TransportSecurity transport = security.resolve(System.out);
        TrainConfig cfg = SessionFactories.withLabelClasses(TrainConfig.load(config, overrides));
        Path run = RunSetup.runDir(cfg, runDir);
        return serve(settingsFor(cfg, run, resumeIfPresent, System.out), bind, listenHost, transport, http, System.out);
    }

    /**
     * A new run in {@code run}, or, with {@code resumeIfPresent} and a valid checkpoint there, the
     * continuation of the run it holds (the same settings `mert resume` builds).
     */
    static CoordinatorSettings settingsFor(TrainConfig cfg, Path run, boolean resumeIfPresent, PrintStream out) throws Exception {
        if (resumeIfPresent && RunSetup.resumePoint(run, cfg.keepLast()).isPresent()) {
            CoordinatorSettings resumed = ResumeCommand.settingsFor(run);
            out.println("resuming " + run.toAbsolutePath() + " at step " + resumed.startStep() + " from "
                    + resumed.restoreCheckpoint() + " (the run directory holds a valid checkpoint)");
            if (!resumed.config().configHash().equals(cfg.configHash())) {
                out.println("note: --config differs from the run's recorded " + RunSetup.CONFIG_FILE
                        + "; the recorded one is used (start a new run in another directory to change it)");
            }
            return resumed;
        }
        RunSetup.startNewRun(run, cfg);
        return CoordinatorSettings.fresh(cfg, run, RunSetup.plan(cfg));
    }

    /**
     * Runs a coordinator node until the run ends; returns the exit code.
     *
     * @param listenHost the interface to listen on when it differs from the {@code bind} host, else null
     */
    static int serve(CoordinatorSettings settings, String bind, String listenHost, TransportSecurity security, HttpOption http,
                     PrintStream out) {
        HostPort hp = HostPort.parse(bind);
        int port = hp.port() == 0 ? LocalCluster.freePort() : hp.port();
        CompletableFuture<Boolean> result = new CompletableFuture<>();
        ConsoleProgress progress = new ConsoleProgress(out, settings.config().logInterval(), settings.config().maxUpdate());
        CoordinatorTelemetry telemetry = new CoordinatorTelemetry(TensorBoardLog.open(settings.runDir(), listener(progress, result)),
                settings.config().maxUpdate());
        CoordinatorNode node = CoordinatorNode.start(hp.host(), listenHost, port, settings, telemetry, security);
        java.util.concurrent.atomic.AtomicBoolean up = new java.util.concurrent.atomic.AtomicBoolean(true);
        node.whenTerminated(() -> up.set(false));
        io.mert.telemetry.TelemetryServer server = http.start(telemetry.registry(), up::get, telemetry::status);
        out.println("coordinator listening on " + (listenHost != null ? listenHost : hp.host()) + ":" + port
                + (security instanceof TransportSecurity.MutualTls ? " (mutual TLS)" : " (plain TCP)")
                + "; join workers with: mert worker --join " + hp.host() + ":" + port);
        node.awaitTermination(Duration.ofDays(365));
        if (server != null) server.close();
        return result.getNow(false) ? 0 : 1;
    }

    private static io.mert.coordinator.RunListener listener(ConsoleProgress progress, CompletableFuture<Boolean> result) {
        return new io.mert.coordinator.RunListener() {
            @Override
            public void onStep(com.fasterxml.jackson.databind.node.ObjectNode m) {
                progress.onStep(m);
            }

            @Override
            public void onEvent(String e, com.fasterxml.jackson.databind.node.ObjectNode d) {
                progress.onEvent(e, d);
            }

            @Override
            public void onFinished(long steps) {
                result.complete(true);
            }

            @Override
            public void onFailed(String reason) {
                progress.onFailed(reason);
                result.complete(false);
            }
        };
    }
}
