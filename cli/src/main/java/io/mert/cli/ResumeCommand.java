package io.mert.cli;

import io.mert.coordinator.CoordinatorSettings;
import io.mert.model.config.TrainConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;

@Command(name = "resume", mixinStandardHelpOptions = true,
        description = "Continue a stopped run from its newest valid checkpoint.")
final class ResumeCommand implements Callable<Integer> {

    @Option(names = "--run-dir", required = true, description = "the run directory of a run started with `mert train`")
    Path runDir;

    @Option(names = "--local-workers", defaultValue = "1", description = "workers to run in this process (0: wait for remote workers)")
    int localWorkers;

    @Option(names = "--bind", defaultValue = "127.0.0.1:0", description = "coordinator address when remote workers join (N=0)")
    String bind;

    @picocli.CommandLine.Mixin
    ClusterSecurityOptions security = new ClusterSecurityOptions(); // used when remote workers join (N=0)

    @picocli.CommandLine.Mixin
    HttpOption http = new HttpOption();

    @Option(names = "--listen-host", description = "interface to listen on when it differs from the --bind host (e.g. 0.0.0.0)")
    String listenHost;

    @Override
    public Integer call() throws Exception {
        CoordinatorSettings settings = settingsFor(runDir);
        System.out.println("resuming " + runDir.toAbsolutePath() + " at step " + settings.startStep()
                + (settings.restoreCheckpoint() == null ? " (no valid checkpoint: from the start)" : " from " + settings.restoreCheckpoint()));
        if (localWorkers == 0) return CoordinatorCommand.serve(settings, bind, listenHost, security.resolve(System.out), http, System.out);
        TrainConfig cfg = settings.config();
        CoordinatorTelemetry telemetry = new CoordinatorTelemetry(TensorBoardLog.open(settings.runDir(),
                new ConsoleProgress(System.out, cfg.logInterval(), cfg.maxUpdate())), cfg.maxUpdate());
        io.mert.telemetry.TelemetryServer server = http.start(telemetry.registry(), () -> true, telemetry::status);
        try {
            LocalCluster.Outcome o = LocalCluster.run(settings, localWorkers, telemetry, Duration.ofDays(365));
            return o.success() ? 0 : 1;
        } finally {
            if (server != null) server.close();
        }
    }

    /** The coordinator settings of a run continued from its newest valid checkpoint. */
    static CoordinatorSettings settingsFor(Path runDir) throws Exception {
        TrainConfig cfg = RunSetup.configOf(runDir);
        CoordinatorSettings fresh = CoordinatorSettings.fresh(cfg, runDir, RunSetup.plan(cfg));
        return RunSetup.resumePoint(runDir, cfg.keepLast())
                .map(p -> fresh.resumingFrom(p.checkpoint(), p.step(), p.generation(), p.trainingSeconds()))
                .orElse(fresh);
    }
}
