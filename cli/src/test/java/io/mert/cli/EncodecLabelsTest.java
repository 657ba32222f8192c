package io.mert.cli;

import io.mert.data.LabelFile;
import io.mert.data.WavFile;
import io.mert.model.encodec.EncodecEncoder;
import io.mert.model.config.ConfigTree;
import io.mert.model.config.TrainConfig;
import io.mert.model.encodec.EncodecWeights;
import io.mert.worker.SessionFactories;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code mert prepare-labels --teacher encodec} on a few short WAVs with the reduced-width EnCodec
 * of the model module's reference fixture (same HF layout as facebook/encodec_24khz, proven equal to
 * Meta's encodec package by EncodecReferenceTest): eight label streams in HuBERT's layout whose
 * tokens are the encoder's codes, and a tiny MERT trains on them with one head per codebook.
 */
class EncodecLabelsTest {
    /** Maven runs the tests of a module in its directory. */
    static final Path WEIGHTS = Path.of("../model/src/test/resources/reference/encodec/model.safetensors");

    private record Run(int code, String out, String err) {}

    private static Run mert(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int code = Mert.execute(args);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    private static float[] clip(int samples, double f0, long seed) {
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        float[] x = new float[samples];
        for (int i = 0; i < samples; i++) {
            double t = i / 24000.0;
            x[i] = (float) (0.3 * Math.sin(2 * Math.PI * f0 * t) * Math.exp(-2 * t) + 0.2 * Math.sin(2 * Math.PI * 1.5 * f0 * t)
                    + 0.02 * (r.nextDouble() - 0.5));
        }
        return x;
    }

    private static void manifest(Path dir, String split, Path audio, List<String> names, List<float[]> clips) throws Exception {
        StringBuilder tsv = new StringBuilder(audio.toAbsolutePath() + "\n");
        for (int i = 0; i < names.size(); i++) {
            WavFile.writeMono(audio.resolve(names.get(i)), clips.get(i), 24000, WavFile.Encoding.PCM_16);
            tsv.append(names.get(i)).append('\t').append(clips.get(i).length).append('\n');
        }
        Files.writeString(dir.resolve(split + ".tsv"), tsv.toString());
    }

    @Test
    void labelsAreTheEncoderCodesAndTrainEightHeads(@TempDir Path tmp) throws Exception {
        Path audio = Files.createDirectories(tmp.resolve("audio")), man = Files.createDirectories(tmp.resolve("manifest"));
        List<float[]> train = List.of(clip(31_000, 220, 1), clip(24_321, 330, 2), clip(40_000, 147, 3));
        manifest(man, "train", audio, List.of("a.wav", "b.wav", "c.wav"), train);
        manifest(man, "valid", audio, List.of("v.wav"), List.of(clip(20_000, 262, 4)));
        Path labels = tmp.resolve("labels");

        Run r = mert("prepare-labels", "--manifest-dir", man.toString(), "--teacher", "encodec", "--encodec-weights",
                WEIGHTS.toString(), "--out-dir", labels.toString(), "--threads", "2");
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.out().contains("task.labels: [encodec_0, encodec_1, encodec_2, encodec_3, encodec_4, encodec_5, encodec_6, encodec_7]"),
                r.out());

        EncodecEncoder enc = EncodecWeights.load(WEIGHTS);
        List<int[][]> expected = new ArrayList<>();
        for (String name : List.of("a.wav", "b.wav", "c.wav")) {
            // what the teacher read: the 16-bit WAV, not the float clip
            expected.add(enc.codes(WavFile.readMono(audio.resolve(name)).samples(), 8));
        }
        for (int q = 0; q < 8; q++) {
            assertEquals(1024, LabelFile.dictionarySize(labels.resolve("dict.encodec_" + q + ".txt")));
            List<int[]> rows = LabelFile.read(labels.resolve("train.encodec_" + q), 1024);
            assertEquals(3, rows.size());
            for (int i = 0; i < 3; i++) {
                assertEquals((train.get(i).length + 319) / 320, rows.get(i).length, "ceil(samples / 320) frames");
                assertArrayEquals(expected.get(i)[q], rows.get(i), "train line " + (i + 1) + " codebook " + q);
            }
            assertEquals(1, LabelFile.read(labels.resolve("valid.encodec_" + q), 1024).size());
        }

        Path yaml = tmp.resolve("run.yaml");
        Files.writeString(yaml, """
                common: {seed: 1337, log_interval: 1}
                task: {data: '%s', label_dir: '%s', labels: [encodec_0, encodec_1, encodec_2, encodec_3, encodec_4, encodec_5,
                       encodec_6, encodec_7], sample_rate: 24000, label_rate: 75, max_sample_size: 16000, normalize: false}
                model: {preset: tiny}
                criterion: {loss_weights: [10, 1]}
                dataset: {global_batch_size: 2}
                optimization: {max_update: 2, lr: [0.001], clip_norm: 10.0}
                optimizer: {adam_betas: '(0.9,0.98)', adam_eps: 1.0e-06, weight_decay: 0.01}
                lr_scheduler: {_name: polynomial_decay, warmup_updates: 1, total_num_update: 2, end_learning_rate: 0.0, power: 1.0}
                checkpoint: {save_dir: '%s', save_interval_updates: 2, keep_interval_updates: 1}
                distributed_training: {distributed_world_size: 1, min_world_size: 1, step_timeout_s: 120}
                """.formatted(man.toAbsolutePath(), labels.toAbsolutePath(), tmp.resolve("run").toAbsolutePath()));
        TrainConfig cfg = SessionFactories.withLabelClasses(TrainConfig.from(ConfigTree.load(yaml)));
        assertEquals(java.util.Collections.nCopies(8, 1024), cfg.model().labelClasses(), "one head per codebook");
        Run t = mert("train", "--config", yaml.toString(), "--local-workers", "1");
        assertEquals(0, t.code(), t.err() + t.out());
        List<String> metrics = Files.readAllLines(tmp.resolve("run").resolve("metrics.jsonl"));
        assertEquals(2, metrics.size(), String.join("\n", metrics));
        // one masked-prediction loss per head: eight streams of 1024 classes, near ln(1024) = 6.9 at the start
        String[] perHead = metrics.get(0).replaceAll(".*\"acoustic_loss\":\\[([^\\]]*)\\].*", "$1").split(",");
        assertEquals(8, perHead.length, metrics.get(0));
        for (String l : perHead) assertTrue(Double.parseDouble(l) > 5 && Double.parseDouble(l) < 10, metrics.get(0));
    }

    @Test
    void missingOrWrongWeightsAreExplained(@TempDir Path tmp) throws Exception {
        Path audio = Files.createDirectories(tmp.resolve("audio")), man = Files.createDirectories(tmp.resolve("manifest"));
        manifest(man, "train", audio, List.of("a.wav"), List.of(clip(8000, 220, 1)));
        Run none = mert("prepare-labels", "--manifest-dir", man.toString(), "--teacher", "encodec", "--out-dir", tmp.resolve("l").toString());
        assertNotEquals(0, none.code());
        assertTrue(none.err().contains("--encodec-weights") && none.err().contains(EncodecWeights.DOWNLOAD_URL), none.err());
        Path wrong = tmp.resolve("model.safetensors");
        Files.write(wrong, new byte[] {8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '});
        Run bad = mert("prepare-labels", "--manifest-dir", man.toString(), "--teacher", "encodec", "--encodec-weights", wrong.toString(),
                "--out-dir", tmp.resolve("l").toString());
        assertNotEquals(0, bad.code());
        assertTrue(bad.err().contains("has no tensor 'encoder.layers.0.conv.bias'") && bad.err().contains("facebook/encodec_24khz"),
                bad.err());
    }
}
