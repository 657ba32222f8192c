package io.mert.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.mert.cli.bench.StepBenchSide;
import io.mert.coordinator.CoordinatorSettings;
import io.mert.coordinator.RunListener;
import io.mert.model.config.TrainConfig;
import io.mert.worker.SessionFactories;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "scaling", mixinStandardHelpOptions = true,
        description = {"Data-parallel efficiency on one host: the same training run (same data, global batch, seed) with "
                + "1 worker using every core, then with one worker per core (one thread each), in-process clusters "
                + "with the real coordinator, Pekko messages and Aeron allreduce.",
                "Prints samples/s of both, the phase split, and efficiency = throughput(N workers) / throughput(1 worker)."})
final class ScalingBenchCommand implements Callable<Integer> {

    private static final ObjectMapper JSON = new ObjectMapper();

    @Option(names = "--workers", description = "workers of the second run (default: one per core)")
    Integer workers;

    @Option(names = "--global-batch", defaultValue = "8", description = "clips per step, summed over workers (default ${DEFAULT-VALUE})")
    int globalBatch;

    @Option(names = "--steps", defaultValue = "30", description = "steps per run (default ${DEFAULT-VALUE})")
    int steps;

    @Option(names = "--skip", defaultValue = "5", description = "first steps left out of the timing (default ${DEFAULT-VALUE})")
    int skip;

    @Option(names = "--crop", defaultValue = "24000", description = "samples per clip (default ${DEFAULT-VALUE})")
    int crop;

    @Option(names = "--prefetch", defaultValue = "1",
            description = "batches each worker builds ahead on its loader thread: dataset.prefetch_batches (default ${DEFAULT-VALUE}; 0 builds them inline in the step)")
    int prefetch;

    @Option(names = "--transport", defaultValue = "aeron",
            description = "distributed_training.allreduce_transport of both runs: aeron or shm (default ${DEFAULT-VALUE})")
    String transport;

    @Option(names = "--workdir", description = "where the corpus and runs go (default: a temp directory, deleted after)")
    Path workdir;

    @Override
    public Integer call() throws Exception {
        return run(System.out);
    }

    int run(PrintStream out) throws Exception {
        int cores = Runtime.getRuntime().availableProcessors();
        int n = workers != null ? workers : cores;
        if (n < 2) throw new IllegalArgumentException("--workers must be >= 2 (the comparison is N workers against 1), got " + n);
        if (globalBatch % n != 0) {
            throw new IllegalArgumentException("--global-batch " + globalBatch + " is not divisible by " + n
                    + " workers; choose a multiple so every worker gets the same share");
        }
        if (prefetch < 0) throw new IllegalArgumentException("--prefetch " + prefetch + ": allowed is 0 (inline) or more batches");
        if (skip >= steps) throw new IllegalArgumentException("--skip " + skip + " leaves no timed step of --steps " + steps);
        Path work = workdir != null ? workdir : Files.createTempDirectory("mert-bench-scaling-");
        out.printf(Locale.ROOT, "mert bench scaling: tiny preset, global batch %d x %d samples, %d steps (first %d untimed), "
                + "prefetch %d batch(es), allreduce over %s; %d cores, load average %.2f%n", globalBatch, crop, steps, skip, prefetch,
                transport, cores,
                java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        Result one, many;
        try {
            DemoPipeline.Prepared data = DemoPipeline.prepare(work.resolve("data"), 12, 16, 5, out);
            one = train(data, work.resolve("run-1"), 1);
            many = train(data, work.resolve("run-" + n), n);
        } finally {
            if (workdir == null) deleteTree(work);
        }
        out.printf(Locale.ROOT, "%n  %-34s %9s %10s %9s %9s %10s %9s %10s%n", "run", "ms/step", "samples/s", "data", "compute",
                "allreduce", "update", "data/step");
        one.print(out, "1 worker x " + cores + " threads", globalBatch);
        many.print(out, n + " workers x " + Math.max(1, cores / n) + " thread(s)", globalBatch);
        double efficiency = one.medianStepMs / many.medianStepMs;
        out.printf(Locale.ROOT, "%n  efficiency = throughput(%d workers) / throughput(1 worker) = %.2f  (goal >= 0.90: %s)%n",
                n, efficiency, efficiency >= 0.9 ? "met" : "NOT met");
        out.printf(Locale.ROOT, "  same trajectory: final loss %.6f vs %.6f%n", one.finalLoss, many.finalLoss);
        return 0;
    }

    private Result train(DemoPipeline.Prepared data, Path run, int n) throws Exception {
        TrainConfig cfg = SessionFactories.withLabelClasses(TrainConfig.from(DemoPipeline.config(data, run, n, steps, crop)
                .withOverrides(List.of("dataset.global_batch_size=" + globalBatch, "checkpoint.save_interval_updates=100000",
                        "common.log_interval=100000", "dataset.prefetch_batches=" + prefetch,
                        "distributed_training.allreduce_transport=" + transport))));
        RunSetup.startNewRun(run, cfg);
        LocalCluster.Outcome o = LocalCluster.run(CoordinatorSettings.fresh(cfg, run, RunSetup.plan(cfg)), n,
                RunListener.NONE, Duration.ofHours(2));
        if (!o.success()) throw new IllegalStateException("the " + n + "-worker run failed: " + o.failure());
        List<JsonNode> lines = new ArrayList<>();
        for (String l : Files.readAllLines(run.resolve("metrics.jsonl"))) lines.add(JSON.readTree(l));
        List<JsonNode> timed = lines.subList(skip, lines.size());
        Result r = new Result();
        r.medianStepMs = median(timed, m -> m.get("step_s").asDouble() * 1000);
        r.dataMs = median(timed, m -> m.path("timings_ms").path("data").asDouble());
        r.computeMs = median(timed, m -> m.path("timings_ms").path("compute").asDouble());
        r.allreduceMs = median(timed, m -> m.path("timings_ms").path("allreduce").asDouble());
        r.updateMs = median(timed, m -> m.path("timings_ms").path("update").asDouble());
        r.finalLoss = lines.get(lines.size() - 1).get("loss").asDouble();
        return r;
    }

    private static void deleteTree(Path dir) {
        try (var paths = Files.walk(dir)) {
            paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (Exception e) {
            // a temp directory left behind is harmless
        }
    }

    private static double median(List<JsonNode> lines, java.util.function.ToDoubleFunction<JsonNode> f) {
        return StepBenchSide.median(lines.stream().mapToDouble(f).toArray());
    }

    private static final class Result {
        double medianStepMs, dataMs, computeMs, allreduceMs, updateMs, finalLoss;

        void print(PrintStream out, String name, int batch) {
            // data: what the step waited for its batch (with prefetch, what the loader thread had not finished)
            out.printf(Locale.ROOT, "  %-34s %9.1f %10.2f %9.1f %9.1f %10.1f %9.1f %9.1f%%%n", name, medianStepMs,
                    batch * 1000.0 / medianStepMs, dataMs, computeMs, allreduceMs, updateMs, 100 * dataMs / medianStepMs);
        }
    }
}
