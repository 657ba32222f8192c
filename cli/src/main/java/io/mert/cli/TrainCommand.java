package io.mert.cli;

import io.mert.coordinator.CoordinatorSettings;
import io.mert.model.config.TrainConfig;
import io.mert.worker.SessionFactories;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Train: a coordinator plus N local workers in this process (N=0: wait for remote workers).")
final class TrainCommand implements Callable<Integer> {

    @Option(names = "--config", required = true, description = "training config (YAML with fairseq key names)")
    Path config;

    @Parameters(arity = "0..*", paramLabel = "key=value", description = "config overrides, e.g. optimization.max_update=100")
    List<String> overrides = new ArrayList<>();

    @Option(names = "--local-workers", defaultValue = "1", description = "workers to run in this process (default ${DEFAULT-VALUE})")
    int localWorkers;

    @Option(names = "--run-dir", description = "run directory (default: checkpoint.save_dir)")
    Path runDir;

    @picocli.CommandLine.Mixin
    ClusterSecurityOptions security = new ClusterSecurityOptions(); // used when remote workers join (N=0)

    @picocli.CommandLine.Mixin
    HttpOption http = new HttpOption();

    @Option(names = "--bind", defaultValue = "127.0.0.1:0", description = "coordinator address when remote workers join (N=0)")
    String bind;

    @Override
    public Integer call() throws Exception {
        TrainConfig cfg = SessionFactories.withLabelClasses(TrainConfig.load(config, overrides));
        Path run = RunSetup.runDir(cfg, runDir);
        RunSetup.startNewRun(run, cfg);
        io.mert.protocol.ShardPlan plan = RunSetup.plan(cfg);
        int datasetSize = plan.datasetSize();
        CoordinatorSettings settings = CoordinatorSettings.fresh(cfg, run, plan);
        if (localWorkers == 0) return CoordinatorCommand.serve(settings, bind, null, security.resolve(System.out), http, System.out);
        System.out.println("run directory " + run.toAbsolutePath() + ": " + datasetSize + " training clips, "
                + (plan.batchesByTokens() ? plan.stepsPerEpoch() + " steps per epoch (dataset.max_tokens), " : "")
                + localWorkers + " local worker(s)");
        CoordinatorTelemetry telemetry = new CoordinatorTelemetry(TensorBoardLog.open(run,
                new ConsoleProgress(System.out, cfg.logInterval(), cfg.maxUpdate())), cfg.maxUpdate());
        io.mert.telemetry.TelemetryServer server = http.start(telemetry.registry(), () -> true, telemetry::status);
        try {
            LocalCluster.Outcome o = LocalCluster.run(settings, localWorkers, telemetry, Duration.ofDays(365));
            return o.success() ? 0 : 1;
        } finally {
            if (server != null) server.close();
        }
    }
}
