package io.mert.cli;

import io.mert.coordinator.CoordinatorSettings;
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

    @Option(names = "--bind", required = true, description = "HOST:PORT this coordinator listens on")
    String bind;

    @Option(names = "--run-dir", description = "run directory (default: checkpoint.save_dir)")
    Path runDir;

    @Override
    public Integer call() throws Exception {
        TrainConfig cfg = SessionFactories.withLabelClasses(TrainConfig.load(config, overrides));
        Path run = RunSetup.runDir(cfg, runDir);
        RunSetup.startNewRun(run, cfg);
        return serve(CoordinatorSettings.fresh(cfg, run, RunSetup.datasetSize(cfg)), bind, System.out);
    }

    /** Runs a coordinator node until the run ends; returns the exit code. */
    static int serve(CoordinatorSettings settings, String bind, PrintStream out) {
        HostPort hp = HostPort.parse(bind);
        int port = hp.port() == 0 ? LocalCluster.freePort() : hp.port();
        CompletableFuture<Boolean> result = new CompletableFuture<>();
        ConsoleProgress progress = new ConsoleProgress(out, settings.config().logInterval(), settings.config().maxUpdate());
        CoordinatorNode node = CoordinatorNode.start(hp.host(), port, settings, new io.mert.coordinator.RunListener() {
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
        });
        out.println("coordinator listening on " + hp.host() + ":" + port + "; join workers with: mert worker --join "
                + hp.host() + ":" + port);
        node.awaitTermination(Duration.ofDays(365));
        return result.getNow(false) ? 0 : 1;
    }
}
