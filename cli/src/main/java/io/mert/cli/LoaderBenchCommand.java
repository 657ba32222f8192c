package io.mert.cli;

import io.mert.cli.bench.LoaderBench;
import io.mert.cli.bench.StepBenchRunner;
import io.mert.cli.bench.StepBenchSide;
import io.mert.cli.bench.StepBenchSpec;
import io.mert.data.LabelFile;
import io.mert.data.Manifest;
import io.mert.data.TrainingClips;
import io.mert.model.MertConfig;
import io.mert.model.config.MixupConfig;
import io.mert.worker.StepBatches;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "loader", mixinStandardHelpOptions = true,
        description = {"Time the training data loader: the batch a worker builds before each step (shard plan, crops "
                + "from the manifest's audio, aligned labels, CQT targets, span masks, the preset's mixup), on a "
                + "generated demo corpus or a prepared one (--manifest-dir, --label-dir).",
                "Prints samples per second, seconds of audio per second, and the ratio of one batch's loading time to "
                        + "one training step of the same preset, batch and crop (timed in its own JVM, as `mert bench step`)."})
final class LoaderBenchCommand implements Callable<Integer> {

    @Option(names = "--preset", defaultValue = "tiny", description = "tiny, MERT-95M or MERT-330M (default ${DEFAULT-VALUE})")
    String preset;

    @Option(names = "--batch", defaultValue = "4", description = "clips per batch (default ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--crop", defaultValue = "24000", description = "samples per clip at 24 kHz (default ${DEFAULT-VALUE}, 1 s)")
    int crop;

    @Option(names = "--loader-threads", defaultValue = "1",
            description = "batches built at once, each by its own thread (default ${DEFAULT-VALUE}: a worker builds its batches one at a time, on its loader thread)")
    int loaderThreads;

    @Option(names = "--threads", description = "compute threads of the training step (default: all cores)")
    Integer threads;

    @Option(names = "--seconds", defaultValue = "10", description = "timed seconds of loading, after the first batch (default ${DEFAULT-VALUE})")
    double seconds;

    @Option(names = "--min-batches", defaultValue = "3", description = "timed batches at least (default ${DEFAULT-VALUE})")
    int minBatches;

    @Option(names = "--clips", defaultValue = "8", description = "clips of the generated demo corpus (default ${DEFAULT-VALUE})")
    int clips;

    @Option(names = "--manifest-dir", description = "a prepared corpus: the directory with train.tsv (mert prepare-manifest)")
    Path manifestDir;

    @Option(names = "--label-dir", description = "its labels: train.<label> and dict.<label>.txt (mert prepare-labels)")
    Path labelDir;

    @Option(names = "--labels", split = ",", defaultValue = "km", description = "label streams in --label-dir (default ${DEFAULT-VALUE})")
    List<String> labels;

    @Option(names = "--seed", defaultValue = "1337", description = "seed of the crops, masks and corpus (default ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--no-step", description = "time the loader only")
    boolean noStep;

    @Option(names = "--step-seconds", defaultValue = "10", description = "timed seconds of training steps (default ${DEFAULT-VALUE})")
    double stepSeconds;

    @Option(names = "--heap", defaultValue = "2048", description = "MiB of Java heap for the step's JVM (default ${DEFAULT-VALUE})")
    long heapMiB;

    @Option(names = "--timeout", defaultValue = "1800", description = "seconds the step benchmark may take (default ${DEFAULT-VALUE})")
    long timeoutSeconds;

    /** Median seconds of {@code batch} CQTs of one crop each, after one untimed call that builds the kernels. */
    private double cqtSecondsPerBatch(int reps) {
        io.mert.model.features.Cqt cqt = io.mert.model.features.Cqt.mert();
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(seed);
        float[] x = new float[crop];
        for (int i = 0; i < x.length; i++) x[i] = (float) (0.1 * (rnd.nextDouble() * 2 - 1));
        cqt.magnitude(x);
        double[] t = new double[Math.max(3, Math.min(reps, 50))];
        for (int i = 0; i < t.length; i++) {
            long t0 = System.nanoTime();
            for (int b = 0; b < batch; b++) cqt.magnitude(x);
            t[i] = (System.nanoTime() - t0) / 1e9;
        }
        return StepBenchSide.median(t);
    }

    @Override
    public Integer call() throws Exception {
        return run(System.out);
    }

    int run(PrintStream out) throws Exception {
        if ((manifestDir == null) != (labelDir == null))
            throw new IllegalArgumentException("--manifest-dir and --label-dir go together (a prepared corpus and its labels)");
        if (batch < 1) throw new IllegalArgumentException("--batch must be >= 1, got " + batch);
        MertConfig base = MertConfig.preset(preset);
        int frames = base.framesFor(crop);
        if (frames < 1) throw new IllegalArgumentException("--crop " + crop + " gives no model frame");
        int t = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        Path work = Files.createTempDirectory("mert-bench-loader-");
        try {
            Path manifest = manifestDir, labelsDir = labelDir;
            List<String> streams = labels;
            String corpus;
            if (manifest == null) {
                long c0 = System.nanoTime();
                DemoPipeline.Prepared p = DemoPipeline.prepare(work, clips, 8, seed, new PrintStream(OutputStream.nullOutputStream()));
                manifest = p.manifestDir();
                labelsDir = p.labelDir();
                streams = List.of("km");
                corpus = String.format(Locale.ROOT, "demo corpus of %d clips (%d for training) made in %.1f s in %s", clips,
                        p.trainClips(), (System.nanoTime() - c0) / 1e9, work);
            } else {
                corpus = manifest.resolve("train.tsv") + " with labels " + streams + " from " + labelsDir;
            }
            Manifest m = Manifest.read(manifest.resolve("train.tsv"));
            List<Path> labelFiles = new ArrayList<>();
            List<Integer> classes = new ArrayList<>();
            for (String s : streams) {
                labelFiles.add(labelsDir.resolve("train." + s));
                classes.add(LabelFile.dictionarySize(labelsDir.resolve("dict." + s + ".txt")));
            }
            MertConfig model = base.withLabelClasses(classes);
            TrainingClips training = new TrainingClips(m, labelFiles, classes, crop, frames);
            if (training.size() == 0)
                throw new IOException("no clip of " + manifest.resolve("train.tsv") + " is long enough for a crop of " + crop + " samples");
            MixupConfig mixup = MixupConfig.preset(preset);
            StepBatches batches = new StepBatches(model, training, crop, seed, batch, mixup);

            out.printf(Locale.ROOT, "mert bench loader: preset %s, batch %d x %d samples (%.2f s, %d frames, %d CQT bins), "
                            + "mixup %s, %d loader thread(s); %d cores, load average %.2f%n", preset, batch, crop, crop / 24000.0,
                    frames, model.cqtBins(), mixup.enabled() ? "on (p " + mixup.mixtureProb() + ")" : "off", loaderThreads,
                    Runtime.getRuntime().availableProcessors(),
                    java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
            out.printf(Locale.ROOT, "  corpus: %s; %d usable clips, %.1f s of audio%n", corpus, training.size(),
                    m.totalSamples() / 24000.0);
            LoaderBench.Result r = LoaderBench.run(batches, loaderThreads, seconds, minBatches);
            double perBatch = r.medianBatchSeconds();
            out.printf(Locale.ROOT, "  loader: first batch %.3f s (builds the CQT kernels for this crop), then %d batches in "
                            + "%.3f s: %.1f ms per batch (median), %.1f samples/s = %.1f s of audio per second (x real time)%n",
                    r.firstBatchSeconds(), r.batches(), r.wallSeconds(), perBatch * 1e3, r.samplesPerSecond(),
                    r.samplesPerSecond() * crop / 24000.0);
            double cqtPerBatch = cqtSecondsPerBatch(r.batches());
            out.printf(Locale.ROOT, "  of which the CQT targets: %.1f ms per batch (%.0f%%; Cqt.mert() alone on %d crops of this length)%n",
                    cqtPerBatch * 1e3, 100 * cqtPerBatch / perBatch, batch);
            if (noStep) {
                out.println("  step: skipped (--no-step)");
                return 0;
            }
            StepBenchSpec spec = new StepBenchSpec(preset, batch, crop, t, stepSeconds, 2, 3, 100_000, 1e-4, false);
            Path stepDir = Files.createDirectories(work.resolve("step"));
            StepBenchSide step = new StepBenchRunner(stepDir, Duration.ofSeconds(timeoutSeconds)).runOurs(spec, heapMiB << 20);
            double stepSeconds = step.medianStepMs() / 1e3;
            out.printf(Locale.ROOT, "  step: %.1f ms per training step (median of %d; forward, backward, AdamW; %d threads, "
                            + "its own JVM, a synthetic batch of the same shape), %.3g samples/s%n",
                    stepSeconds * 1e3, step.stepMs().length, t, batch / stepSeconds);
            double ratio = perBatch / stepSeconds;
            out.printf(Locale.ROOT, "  loader / step = %.3f%n", ratio);
            out.printf(Locale.ROOT, "  verdict: %s%n", ratio < 1
                    ? String.format(Locale.ROOT, "the loader keeps up (a batch takes %.1f%% of a step): with "
                    + "dataset.prefetch_batches >= 1 (the default) a worker builds it on its loader thread while the previous "
                    + "step computes, given a free core; with 0 each step waits %.1f ms for it", ratio * 100, perBatch * 1e3)
                    : String.format(Locale.ROOT, "the loader is the bottleneck: a batch takes %.2fx a step, so even built "
                    + "ahead on the loader thread each step waits about %.1f ms for it", ratio, (perBatch - stepSeconds) * 1e3));
            return 0;
        } finally {
            try (var paths = Files.walk(work)) {
                paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            } catch (IOException e) {
                // a temp directory left behind is harmless
            }
        }
    }
}
