package io.mert.cli;

import io.mert.data.EncodecTeacher;
import io.mert.data.KMeansTeacher;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "prepare-labels", mixinStandardHelpOptions = true,
        description = "Acoustic-teacher tokens at 75 Hz in HuBERT's label layout (<split>.<label>, dict.<label>.txt).")
final class PrepareLabelsCommand implements Callable<Integer> {

    @Option(names = "--manifest-dir", required = true, description = "directory with train.tsv (and valid.tsv)")
    Path manifestDir;

    @Option(names = "--split", split = ",", description = "splits to label (default: train, and valid when valid.tsv exists); "
            + "k-means is fitted on the first")
    List<String> splits;

    @Option(names = "--teacher", defaultValue = "kmeans",
            description = "kmeans (MERT-v0: k-means on MFCC) or encodec (MERT-v1: EnCodec 24 kHz RVQ codes, one label stream per codebook)")
    String teacher;

    @Option(names = "--encodec-weights", description = "EnCodec 24 kHz model.safetensors (HuggingFace facebook/encodec_24khz), "
            + "for --teacher encodec")
    Path encodecWeights;

    @Option(names = "--codebooks", defaultValue = "8", description = "EnCodec codebooks, one label stream each (default ${DEFAULT-VALUE}: "
            + "MERT's 6 kbps)")
    int codebooks;

    @Option(names = "--threads", description = "files encoded at once by --teacher encodec (default: one per core)")
    Integer threads;

    @Option(names = "--keep-work", description = "--teacher encodec: keep OUT_DIR/.encodec-work (each file's codes, what a rerun "
            + "resumes from) after a successful run; by default it is removed")
    boolean keepWork;

    @Option(names = "--out-dir", required = true, description = "label directory (task.label_dir)")
    Path outDir;

    @Option(names = "--n-clusters", defaultValue = "500", description = "k of the k-means teacher (default ${DEFAULT-VALUE})")
    int clusters;

    @Option(names = "--label-name", description = "label suffix: files <split>.<name> (default km); for encodec the prefix "
            + "of <split>.<name>_<q> (default encodec, the names MERT's run_training.sh trains with)")
    String labelName;

    @Option(names = "--seed", defaultValue = "1337", description = "seed of frame sampling and k-means++ (default ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--kmeans-algorithm", defaultValue = "lloyd", description = "lloyd (full k-means passes, best of 3 k-means++ "
            + "restarts) or minibatch (scikit-learn's MiniBatchKMeans as HuBERT's learn_kmeans.py: batches of --batch-size frames, "
            + "3 k-means++ seedings, stops when the smoothed batch inertia has not improved for 100 steps) (default ${DEFAULT-VALUE})")
    String kmeansAlgorithm;

    @Option(names = "--batch-size", description = "frames per step of --kmeans-algorithm minibatch (default 10000, HuBERT's)")
    Integer batchSize;

    @Option(names = "--max-frames", description = "frames of the first split sampled (seeded, uniformly) to fit k-means on "
            + "(default 100000; all of them when there are fewer)")
    Integer maxFrames;

    @Override
    public Integer call() throws Exception {
        if (splits != null) {
            for (String s : splits) {
                if (!Files.isRegularFile(manifestDir.resolve(s + ".tsv"))) {
                    throw new IllegalArgumentException("no manifest " + manifestDir.resolve(s + ".tsv"));
                }
            }
        }
        switch (teacher) {
            case "kmeans" -> {
                return kmeans();
            }
            case "encodec" -> {
                return encodec();
            }
            default -> throw new IllegalArgumentException("--teacher " + teacher + " is not known; use kmeans or encodec");
        }
    }

    private int encodec() throws Exception {
        if (encodecWeights == null) {
            throw new IllegalArgumentException("--teacher encodec needs --encodec-weights PATH/model.safetensors (download it from "
                    + io.mert.model.encodec.EncodecWeights.DOWNLOAD_URL + ")");
        }
        EncodecTeacher.Options d = EncodecTeacher.Options.defaults(manifestDir, outDir, encodecWeights);
        int n = threads != null ? threads : d.threads();
        Threads.configureForWorkers(n);
        EncodecTeacher.Options o = new EncodecTeacher.Options(manifestDir, splits != null && !splits.isEmpty() ? splits : d.splits(),
                outDir, encodecWeights, labelName != null ? labelName : EncodecTeacher.DEFAULT_PREFIX, codebooks, n, keepWork);
        ProgressBar.Phases progress = ProgressBar.Phases.onConsole("prepare-labels", "files");
        EncodecTeacher.Result r;
        try {
            r = EncodecTeacher.run(o, progress);
        } finally {
            progress.finish();
        }
        System.out.printf("prepare-labels: EnCodec %d codebooks x %d codes at 75 Hz: %d files, %.1f s of audio, %d frames in %.1f s "
                        + "(%.2f s of audio encoded per second, %d threads)%n", o.codebooks(), 1024, r.files(), r.audioSeconds(), r.frames(),
                r.wallSeconds(), r.encodedAudioSeconds() / r.wallSeconds(), n);
        System.out.printf("  %d files encoded, %d reused from an earlier run's %s%s%n", r.encoded(), r.reused(), r.workDir(),
                keepWork ? " (kept: --keep-work)" : "");
        r.labelFiles().forEach((split, files) -> System.out.println("  " + split + " -> " + files.get(0).getParent()
                + "/" + split + "." + o.prefix() + "_{0.." + (o.codebooks() - 1) + "}"));
        System.out.println("  task.labels: " + r.labelNames());
        return 0;
    }

    private int kmeans() throws Exception {
        String name = labelName != null ? labelName : "km";
        KMeansTeacher.Options o = KMeansTeacher.Options.defaults(manifestDir, outDir).withK(clusters).withLabelName(name)
                .withSeed(seed);
        if (splits != null && !splits.isEmpty()) o = o.withSplits(splits);
        if (maxFrames != null) o = o.withMaxFrames(maxFrames);
        switch (kmeansAlgorithm) {
            case "lloyd" -> {
                if (batchSize != null) throw new IllegalArgumentException("--batch-size is for --kmeans-algorithm minibatch");
            }
            case "minibatch" -> o = o.withMiniBatch(batchSize != null ? batchSize : 10_000);
            default -> throw new IllegalArgumentException("--kmeans-algorithm " + kmeansAlgorithm + " is not known; use lloyd or minibatch");
        }
        ProgressBar.Phases progress = ProgressBar.Phases.onConsole("prepare-labels", "clips");
        KMeansTeacher.Result r;
        try {
            r = KMeansTeacher.run(o, progress);
        } finally {
            progress.finish();
        }
        System.out.printf("prepare-labels: k-means (%s) k=%d fitted on %d frames, inertia %.4g%n", kmeansAlgorithm, clusters, r.fitFrames(), r.model().inertia());
        if (r.fitReused() || !r.splitsReused().isEmpty())
            System.out.println("  resumed an interrupted run: " + (r.fitReused() ? "fit reused" : "fitted again")
                    + (r.splitsReused().isEmpty() ? "" : ", kept the labels of " + String.join(", ", r.splitsReused())));
        r.labelFiles().forEach((split, file) -> System.out.println("  " + split + " -> " + file));
        return 0;
    }
}
