package io.mert.cli;

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

    @Option(names = "--teacher", defaultValue = "kmeans", description = "kmeans (MERT-v0: k-means on MFCC) or encodec")
    String teacher;

    @Option(names = "--out-dir", required = true, description = "label directory (task.label_dir)")
    Path outDir;

    @Option(names = "--n-clusters", defaultValue = "500", description = "k of the k-means teacher (default ${DEFAULT-VALUE})")
    int clusters;

    @Option(names = "--label-name", defaultValue = "km", description = "label suffix: files <split>.<name> (default ${DEFAULT-VALUE})")
    String labelName;

    @Option(names = "--seed", defaultValue = "1337", description = "seed of frame sampling and k-means++ (default ${DEFAULT-VALUE})")
    long seed;

    @Override
    public Integer call() throws Exception {
        if (!teacher.equals("kmeans")) {
            throw new IllegalArgumentException("--teacher " + teacher + " is not available yet; use --teacher kmeans");
        }
        KMeansTeacher.Options o = KMeansTeacher.Options.defaults(manifestDir, outDir).withK(clusters).withLabelName(labelName)
                .withSeed(seed);
        if (splits != null && !splits.isEmpty()) {
            for (String s : splits) {
                if (!Files.isRegularFile(manifestDir.resolve(s + ".tsv"))) {
                    throw new IllegalArgumentException("no manifest " + manifestDir.resolve(s + ".tsv"));
                }
            }
            o = new KMeansTeacher.Options(manifestDir, splits, outDir, labelName, clusters, seed, o.maxFrames(), o.maxIter(), o.restarts());
        }
        ProgressBar.Phases progress = ProgressBar.Phases.onConsole("prepare-labels", "clips");
        KMeansTeacher.Result r;
        try {
            r = KMeansTeacher.run(o, progress);
        } finally {
            progress.finish();
        }
        System.out.printf("prepare-labels: k-means k=%d fitted on %d frames, inertia %.4g%n", clusters, r.fitFrames(), r.model().inertia());
        r.labelFiles().forEach((split, file) -> System.out.println("  " + split + " -> " + file));
        return 0;
    }
}
