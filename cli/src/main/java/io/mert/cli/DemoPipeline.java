package io.mert.cli;

import io.mert.data.DemoCorpus;
import io.mert.data.KMeansTeacher;
import io.mert.data.ManifestBuilder;
import io.mert.model.config.ConfigTree;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;

/**
 * The data half of {@code mert demo}: a synthesised music corpus at 22.05 kHz, its 24 kHz
 * manifest, and k-means labels; plus the demo's training config. Tests use it too.
 */
final class DemoPipeline {

    private DemoPipeline() {
    }

    record Prepared(Path corpus, Path audio, Path manifestDir, Path labelDir, int clusters, int trainClips) {
    }

    static Prepared prepare(Path workdir, int clips, int clusters, long seed, PrintStream out) throws Exception {
        Path corpus = workdir.resolve("corpus"), audio = workdir.resolve("audio-24k");
        Path manifest = workdir.resolve("manifest"), labels = workdir.resolve("labels");
        long t0 = System.nanoTime();
        List<DemoCorpus.ClipInfo> made = DemoCorpus.generate(corpus, clips, seed);
        double seconds = made.stream().mapToDouble(DemoCorpus.ClipInfo::seconds).sum();
        out.printf("  corpus: %d clips, %.0f s of music rendered with the JDK's MIDI synthesizer at 22050 Hz -> %s (%.1f s)%n",
                made.size(), seconds, corpus, (System.nanoTime() - t0) / 1e9);
        t0 = System.nanoTime();
        ManifestBuilder.Result m = ManifestBuilder.build(ManifestBuilder.Options.defaults(corpus, audio, manifest)
                .withValidFraction(0.1).withSeed(seed));
        out.printf("  prepare-manifest: resampled to 24 kHz mono, %d train / %d valid -> %s (%.1f s)%n",
                m.train().size(), m.valid().size(), manifest, (System.nanoTime() - t0) / 1e9);
        t0 = System.nanoTime();
        KMeansTeacher.Result k = KMeansTeacher.run(KMeansTeacher.Options.defaults(manifest, labels).withK(clusters).withSeed(seed));
        out.printf("  prepare-labels --teacher kmeans: k=%d on %d MFCC frames (75 Hz), inertia %.4g -> %s (%.1f s)%n",
                clusters, k.fitFrames(), k.model().inertia(), labels, (System.nanoTime() - t0) / 1e9);
        return new Prepared(corpus, audio, manifest, labels, clusters, m.train().size());
    }

    /** The demo's training config: a tiny MERT, fairseq key names. */
    static ConfigTree config(Prepared data, Path runDir, int workers, int steps, int cropSamples) {
        String yaml = """
                common: {seed: 1337, log_interval: %d}
                task:
                  data: %s
                  label_dir: %s
                  labels: [km]
                  sample_rate: 24000
                  label_rate: 75
                  max_sample_size: %d
                  normalize: false
                model: {preset: tiny}
                criterion: {loss_weights: [10, 1]}
                dataset: {global_batch_size: 8}
                optimization: {max_update: %d, lr: [0.005], clip_norm: 10.0}
                optimizer: {adam_betas: '(0.9,0.98)', adam_eps: 1.0e-06, weight_decay: 0.01}
                lr_scheduler: {_name: polynomial_decay, warmup_updates: %d, total_num_update: %d, end_learning_rate: 0.0, power: 1.0}
                checkpoint: {save_dir: %s, save_interval_updates: %d, keep_interval_updates: 2}
                distributed_training: {distributed_world_size: %d, min_world_size: 1, step_timeout_s: 120}
                """.formatted(Math.max(1, steps / 20), quote(data.manifestDir()), quote(data.labelDir()), cropSamples, steps,
                Math.max(1, steps / 10), steps, quote(runDir), Math.max(1, steps / 2), workers);
        return ConfigTree.parse(yaml, "demo config");
    }

    private static String quote(Path p) {
        return "'" + p.toAbsolutePath().toString().replace("'", "''") + "'";
    }
}
