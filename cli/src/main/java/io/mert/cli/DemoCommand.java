package io.mert.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mert.coordinator.CoordinatorSettings;
import io.mert.coordinator.RunListener;
import io.mert.data.Manifest;
import io.mert.data.WavFile;
import io.mert.model.checkpoint.AtomicFiles;
import io.mert.model.config.TrainConfig;
import io.mert.model.nn.MertNetwork;
import io.mert.worker.SessionFactories;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Make a small music corpus, prepare it, train a tiny MERT on an in-process cluster, checkpoint, extract features.")
final class DemoCommand implements Callable<Integer> {

    @Option(names = "--workdir", defaultValue = "mert-demo", description = "where everything goes (default ${DEFAULT-VALUE})")
    Path workdir;

    @Option(names = "--workers", defaultValue = "2", description = "worker nodes in the cluster (default ${DEFAULT-VALUE})")
    int workers;

    @Option(names = "--steps", defaultValue = "200", description = "training updates (default ${DEFAULT-VALUE})")
    int steps;

    @Option(names = "--clips", defaultValue = "24", description = "clips in the synthesised corpus (default ${DEFAULT-VALUE})")
    int clips;

    @Option(names = "--clusters", defaultValue = "32", description = "k of the k-means teacher (default ${DEFAULT-VALUE})")
    int clusters;

    @Option(names = "--lr", defaultValue = "0.005", description = "peak learning rate (default ${DEFAULT-VALUE})")
    double lr;

    @Option(names = "--crop-samples", defaultValue = "48000", description = "training crop at 24 kHz (default ${DEFAULT-VALUE} = 2 s)")
    int cropSamples;

    @Override
    public Integer call() throws Exception {
        return run(System.out);
    }

    int run(PrintStream out) throws Exception {
        long start = System.nanoTime();
        out.println("mert demo in " + workdir.toAbsolutePath());
        out.println("[1/4] data");
        DemoPipeline.Prepared data = DemoPipeline.prepare(workdir, clips, clusters, 20240601L, out);

        Path runDir = workdir.resolve("run");
        if (Files.exists(runDir)) AtomicFiles.deleteRecursively(runDir); // the demo's own previous run
        TrainConfig cfg = SessionFactories.withLabelClasses(TrainConfig.from(DemoPipeline.config(data, runDir, workers, steps, cropSamples)
                .withOverrides(List.of("optimization.lr=[" + lr + "]"))));
        RunSetup.startNewRun(runDir, cfg);
        io.mert.protocol.ShardPlan plan = RunSetup.plan(cfg);
        out.printf("[2/4] training a tiny MERT (%,d parameters) on a cluster of 1 coordinator + %d workers "
                        + "(Pekko over 127.0.0.1, Aeron IPC allreduce): %d steps of %d clips x %.1f s%n",
                io.mert.model.nn.MertLayout.of(cfg.model()).totalSize(), workers, steps, cfg.globalBatch(),
                cropSamples / 24000.0);
        List<ObjectNode> metrics = new ArrayList<>();
        ConsoleProgress progress = new ConsoleProgress(out, cfg.logInterval(), cfg.maxUpdate());
        LocalCluster.Outcome o = LocalCluster.run(CoordinatorSettings.fresh(cfg, runDir, plan), workers,
                TensorBoardLog.open(runDir, new RunListener() {
                    @Override
                    public void onStep(ObjectNode m) {
                        metrics.add(m);
                        progress.onStep(m);
                    }

                    @Override
                    public void onEvent(String event, ObjectNode d) {
                        progress.onEvent(event, d);
                    }
                }), Duration.ofMinutes(30));
        if (!o.success()) {
            out.println("training failed: " + o.failure());
            return 1;
        }
        summarise(out, metrics, clusters);

        out.println("[3/4] extract");
        Path checkpoint = runDir.resolve("checkpoints").resolve(Files.readString(runDir.resolve("checkpoints/LATEST")).trim());
        Manifest valid = Manifest.read(data.manifestDir().resolve("valid.tsv"));
        Manifest source = valid.size() > 0 ? valid : Manifest.read(data.manifestDir().resolve("train.tsv"));
        Path clip = source.resolve(0);
        Path features = workdir.resolve("features").resolve(clip.getFileName().toString().replaceAll("\\.wav$", "") + ".npy");
        long[] shape;
        try (MertNetwork net = Extraction.load(checkpoint)) {
            WavFile.Audio audio = WavFile.readMono(clip);
            shape = Extraction.writeNpy(features, net.hiddenStates(audio.samples()), false);
        }
        out.println("  " + clip.getFileName() + " -> " + features + " shape " + Arrays.toString(shape)
                + " [layers, frames, dim]");

        out.printf("[4/4] done in %.0f s. Where everything is:%n", (System.nanoTime() - start) / 1e9);
        out.println("  corpus (22.05 kHz)   " + data.corpus());
        out.println("  audio (24 kHz)       " + data.audio());
        out.println("  manifests            " + data.manifestDir() + "/{train,valid}.tsv");
        out.println("  k-means labels       " + data.labelDir() + "/{train,valid}.km");
        out.println("  config               " + runDir.resolve(RunSetup.CONFIG_FILE));
        out.println("  metrics              " + runDir.resolve("metrics.jsonl"));
        out.println("  events               " + runDir.resolve("events.jsonl"));
        out.println("  tensorboard          " + runDir.resolve(TensorBoardLog.DIR) + " (tensorboard --logdir " + runDir.resolve(TensorBoardLog.DIR) + ")");
        out.println("  checkpoints          " + runDir.resolve("checkpoints") + " (LATEST -> " + checkpoint.getFileName() + ")");
        out.println("  features             " + features);
        out.println("  continue training:   ./mert resume --run-dir " + runDir);
        return 0;
    }

    /** Start and end of training, averaged over a few steps so one noisy batch does not decide. */
    static void summarise(PrintStream out, List<ObjectNode> metrics, int clusters) {
        int n = metrics.size(), w = Math.max(1, Math.min(5, n / 4));
        double[] first = mean(metrics.subList(0, w)), last = mean(metrics.subList(n - w, n));
        out.printf(Locale.ROOT, "  masked-prediction loss %.3f -> %.3f (mean of the first/last %d steps)%n", first[0], last[0], w);
        out.printf(Locale.ROOT, "  masked accuracy        %.3f -> %.3f (chance %.3f with k=%d)%n", first[1], last[1],
                1.0 / clusters, clusters);
    }

    private static double[] mean(List<ObjectNode> lines) {
        double loss = 0, acc = 0;
        for (ObjectNode m : lines) {
            loss += m.get("acoustic_loss").get(0).asDouble();
            acc += m.get("masked_accuracy").get(0).asDouble();
        }
        return new double[]{loss / lines.size(), acc / lines.size()};
    }
}
