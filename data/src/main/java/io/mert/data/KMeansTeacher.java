package io.mert.data;

import io.mert.model.checkpoint.Npy;

import io.mert.model.features.Mfcc;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * {@code mert prepare-labels --teacher kmeans}: the k-means acoustic teacher of MERT-v0 / HuBERT's
 * first iteration. Computes 39-dim MFCC + deltas ({@link Mfcc}, one frame per 75 Hz model frame) for
 * every clip, fits k-means (Lloyd, or mini-batch as HuBERT) on the train split (on a seeded random
 * subsample of frames when there are more than {@code maxFrames}; mini-batch fits on that same subsample), and writes HuBERT's label layout into the output directory:
 * {@code <split>.<labelName>} (one line per manifest entry, in manifest order, one token per model
 * frame of the whole file), {@code dict.<labelName>.txt} (fairseq dictionary, {@code "<class> 1"}
 * per line) and {@code <labelName>_centroids.npy} (float32 [k, 39]).
 *
 * <p>Features are computed twice (fit pass, label pass) instead of being held for the whole corpus.
 */
public final class KMeansTeacher {
    private static final Logger LOG = LoggerFactory.getLogger(KMeansTeacher.class);

    private KMeansTeacher() {}

    /**
     * @param manifestDir directory holding {@code <split>.tsv}
     * @param splits      splits to label; the first one is the one k-means is fitted on
     * @param outDir      label directory
     * @param labelName   label suffix, HuBERT's {@code task.labels} entry ("km")
     * @param k           clusters
     * @param seed        seed of frame subsampling and k-means++
     * @param maxFrames   cap on frames used for fitting
     * @param maxIter     Lloyd iteration cap; for mini-batch, passes over the sample ({@code maxIter * frames / batchSize} steps at most)
     * @param restarts    k-means++ restarts (Lloyd) or seedings (mini-batch {@code n_init})
     * @param algorithm   Lloyd (full passes) or mini-batch (scikit-learn's MiniBatchKMeans, as HuBERT's learn_kmeans.py)
     * @param batchSize   frames per mini-batch step (mini-batch only)
     */
    public record Options(Path manifestDir, List<String> splits, Path outDir, String labelName, int k, long seed,
                          int maxFrames, int maxIter, int restarts, Algorithm algorithm, int batchSize) {
        /** Lloyd. */
        public Options(Path manifestDir, List<String> splits, Path outDir, String labelName, int k, long seed,
                       int maxFrames, int maxIter, int restarts) {
            this(manifestDir, splits, outDir, labelName, k, seed, maxFrames, maxIter, restarts, Algorithm.LLOYD, 10_000);
        }

        public Options {
            java.util.Objects.requireNonNull(algorithm, "algorithm");
            if (batchSize <= 0) throw new IllegalArgumentException("batch size must be positive, got " + batchSize);
            splits = List.copyOf(splits);
            if (splits.isEmpty()) throw new IllegalArgumentException("at least one split is needed");
            if (!labelName.matches("[A-Za-z0-9_\\-]+"))
                throw new IllegalArgumentException("label name '" + labelName + "' must be letters, digits, '_' or '-'");
            if (k < 2) throw new IllegalArgumentException("k must be at least 2, got " + k);
            if (maxFrames < k) throw new IllegalArgumentException("maxFrames " + maxFrames + " must be at least k " + k);
        }

        /** train (fit) and valid when valid.tsv exists; label "km", k 50, seed 1337, 100k frames, 100 iterations, 3 restarts. */
        public static Options defaults(Path manifestDir, Path outDir) {
            List<String> splits = Files.exists(manifestDir.resolve("valid.tsv")) ? List.of("train", "valid") : List.of("train");
            return new Options(manifestDir, splits, outDir, "km", 50, 1337, 100_000, 100, 3);
        }

        public Options withK(int newK) {
            return new Options(manifestDir, splits, outDir, labelName, newK, seed, maxFrames, maxIter, restarts, algorithm, batchSize);
        }

        public Options withLabelName(String name) {
            return new Options(manifestDir, splits, outDir, name, k, seed, maxFrames, maxIter, restarts, algorithm, batchSize);
        }

        public Options withSeed(long s) {
            return new Options(manifestDir, splits, outDir, labelName, k, s, maxFrames, maxIter, restarts, algorithm, batchSize);
        }

        public Options withSplits(List<String> newSplits) {
            return new Options(manifestDir, newSplits, outDir, labelName, k, seed, maxFrames, maxIter, restarts, algorithm, batchSize);
        }

        public Options withMaxFrames(int frames) {
            return new Options(manifestDir, splits, outDir, labelName, k, seed, frames, maxIter, restarts, algorithm, batchSize);
        }

        public Options withMiniBatch(int newBatchSize) {
            return new Options(manifestDir, splits, outDir, labelName, k, seed, maxFrames, maxIter, restarts, Algorithm.MINIBATCH, newBatchSize);
        }
    }

    /** How the centroids are fitted on the sampled frames. */
    public enum Algorithm {
        /** k-means++ and Lloyd iterations to convergence, best of the restarts ({@link KMeans}). */
        LLOYD,
        /** scikit-learn's MiniBatchKMeans with HuBERT's learn_kmeans.py settings ({@link MiniBatchKMeans}). */
        MINIBATCH
    }

    /** What was written. */
    /**
     * What was written; {@code fitReused} and {@code splitsReused} tell what a rerun took over from an
     * interrupted run instead of computing it again.
     */
    public record Result(KMeans.Model model, Map<String, Path> labelFiles, int fitFrames, boolean fitReused,
                         List<String> splitsReused) {}

    public static Result run(Options o) throws IOException {
        return run(o, ProgressListener.NONE);
    }

    /** As {@link #run(Options)}, telling {@code progress} after each clip ("features SPLIT" for the fit, "labels SPLIT"). */
    public static Result run(Options o, ProgressListener progress) throws IOException {
        Mfcc mfcc = Mfcc.mert();
        Manifest fitManifest = Manifest.read(o.manifestDir().resolve(o.splits().get(0) + ".tsv"));
        KMeansWorkDir work = new KMeansWorkDir(o.outDir(), KMeansWorkDir.key(o, o.manifestDir()));
        KMeansWorkDir.Fit saved = work.loadFit();
        KMeans.Model model;
        int rows;
        if (saved != null) {
            model = saved.model();
            rows = saved.rows();
            LOG.info("k-means: reusing the fit of an interrupted run ({}): k={} on {} frames", work.dir(), model.k(), rows);
        } else {
            KMeansWorkDir.Fit fit = fit(o, fitManifest, mfcc, progress);
            model = fit.model();
            rows = fit.rows();
            work.saveFit(model, rows);
        }

        Files.createDirectories(o.outDir());
        Map<String, Path> written = new LinkedHashMap<>();
        List<String> reused = new ArrayList<>();
        for (String split : o.splits()) {
            Path file = o.outDir().resolve(split + "." + o.labelName());
            String digest = KMeansWorkDir.splitDigest(o.manifestDir(), split);
            if (work.splitDone(split, digest, file)) {
                LOG.info("k-means: {} was labelled by the interrupted run, keeping {}", split, file);
                written.put(split, file);
                reused.add(split);
                continue;
            }
            Manifest m = split.equals(o.splits().get(0)) ? fitManifest : Manifest.read(o.manifestDir().resolve(split + ".tsv"));
            List<int[]> labels = new ArrayList<>(m.size());
            for (int i = 0; i < m.size(); i++) {
                progress.progress("labels " + split, i, m.size());
                labels.add(model.assignAll(features(m, i, mfcc)));
            }
            progress.progress("labels " + split, m.size(), m.size());
            LabelFile.write(file, labels);
            work.markSplitDone(split, digest, file);
            written.put(split, file);
        }
        LabelFile.writeDictionary(o.outDir().resolve("dict." + o.labelName() + ".txt"), o.k());
        Npy.write(o.outDir().resolve(o.labelName() + "_centroids.npy"), new long[] {o.k(), Mfcc.DIM}, model.centroids());
        work.delete(); // a finished run leaves nothing to resume: the next run starts afresh
        return new Result(model, written, rows, saved != null, List.copyOf(reused));
    }

    /** The fit: features of the fit split (a seeded frame subsample), then k-means. */
    private static KMeansWorkDir.Fit fit(Options o, Manifest fitManifest, Mfcc mfcc, ProgressListener progress) throws IOException {
        long total = 0;
        for (Manifest.Entry e : fitManifest.entries()) total += mfcc.frames(Math.toIntExact(e.numSamples()));
        if (total < o.k())
            throw new IOException(o.splits().get(0) + " split has " + total + " frames, fewer than k = " + o.k());
        double keep = Math.min(1.0, o.maxFrames() / (double) total);
        SplittableRandom rnd = new SplittableRandom(o.seed());
        float[] sample = new float[(int) Math.min(total, o.maxFrames() + 1024L) * Mfcc.DIM];
        int rows = 0;
        String fitPhase = "features " + o.splits().get(0);
        for (int i = 0; i < fitManifest.size(); i++) {
            progress.progress(fitPhase, i, fitManifest.size());
            float[] f = features(fitManifest, i, mfcc);
            for (int t = 0; t < f.length / Mfcc.DIM; t++) {
                if (keep < 1.0 && rnd.nextDouble() >= keep) continue;
                if (rows * Mfcc.DIM >= sample.length) sample = java.util.Arrays.copyOf(sample, sample.length * 2);
                System.arraycopy(f, t * Mfcc.DIM, sample, rows * Mfcc.DIM, Mfcc.DIM);
                rows++;
            }
        }
        progress.progress(fitPhase, fitManifest.size(), fitManifest.size());
        sample = java.util.Arrays.copyOf(sample, rows * Mfcc.DIM);
        if (rows < o.k()) throw new IOException("only " + rows + " frames sampled, fewer than k = " + o.k());
        progress.progress("k-means fit", 0, 1);
        KMeans.Model model = switch (o.algorithm()) {
            case LLOYD -> KMeans.fit(sample, Mfcc.DIM, o.k(), rnd.nextLong(), o.maxIter(), o.restarts());
            case MINIBATCH -> MiniBatchKMeans.fit(sample, Mfcc.DIM, new MiniBatchKMeans.Options(o.k(), o.batchSize(), o.maxIter(),
                    100, o.restarts(), 0, rnd.nextLong()));
        };
        progress.progress("k-means fit", 1, 1);
        LOG.info("k-means ({}): k={} on {} frames of {}: inertia per frame {}, {} {}", o.algorithm(), o.k(), rows, o.splits().get(0),
                String.format("%.3f", model.inertia() / rows), model.iterations(),
                o.algorithm() == Algorithm.LLOYD ? "iterations" : "mini-batch steps");

        return new KMeansWorkDir.Fit(model, rows);
    }

    private static float[] features(Manifest m, int i, Mfcc mfcc) throws IOException {
        Path file = m.resolve(i);
        WavFile.Audio a = WavFile.readMono(file);
        if (a.sampleRate() != 24000)
            throw new IOException(file + ": sample rate " + a.sampleRate() + " Hz, the k-means teacher needs 24000 Hz (run prepare-manifest)");
        if (a.samples().length != m.entry(i).numSamples())
            throw new IOException(file + ": has " + a.samples().length + " samples but the manifest says " + m.entry(i).numSamples());
        return mfcc.features(a.samples());
    }
}
