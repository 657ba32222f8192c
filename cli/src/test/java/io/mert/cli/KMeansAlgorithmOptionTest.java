package io.mert.cli;

import io.mert.data.LabelFile;
import io.mert.data.WavFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** {@code mert prepare-labels --teacher kmeans --kmeans-algorithm minibatch --batch-size N} on two short WAVs. */
class KMeansAlgorithmOptionTest {
    private record Run(int code, String out, String err) {}

    private static Run mert(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            return new Run(Mert.execute(args), out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    private static float[] clip(int samples, double f0) {
        float[] x = new float[samples];
        for (int i = 0; i < samples; i++) {
            double t = i / 24000.0;
            x[i] = (float) (0.3 * Math.sin(2 * Math.PI * f0 * (1 + t) * t) + 0.1 * Math.sin(2 * Math.PI * 3 * f0 * t) * Math.exp(-3 * t));
        }
        return x;
    }

    @Test
    void miniBatchFitsAndLabelsEveryFrame(@TempDir Path tmp) throws Exception {
        Path audio = Files.createDirectories(tmp.resolve("audio")), manifest = Files.createDirectories(tmp.resolve("manifest"));
        StringBuilder tsv = new StringBuilder(audio.toAbsolutePath() + "\n");
        for (int i = 0; i < 2; i++) {
            float[] x = clip(48000, 220 * (i + 1));
            WavFile.writeMono(audio.resolve(i + ".wav"), x, 24000, WavFile.Encoding.PCM_16);
            tsv.append(i).append(".wav\t").append(x.length).append('\n');
        }
        Files.writeString(manifest.resolve("train.tsv"), tsv.toString());

        Run r = mert("prepare-labels", "--manifest-dir", manifest.toString(), "--out-dir", tmp.resolve("labels").toString(),
                "--n-clusters", "6", "--kmeans-algorithm", "minibatch", "--batch-size", "32", "--max-frames", "200");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("k-means (minibatch) k=6 fitted on"), r.out());
        List<int[]> rows = LabelFile.read(tmp.resolve("labels/train.km"), 6);
        assertEquals(2, rows.size());
        int frames = io.mert.model.MertConfig.mert95M().framesFor(48000);
        assertEquals(frames, rows.get(0).length, "one label per 75 Hz model frame");
        java.util.regex.Matcher fitted = java.util.regex.Pattern.compile("fitted on (\\d+) frames").matcher(r.out());
        assertTrue(fitted.find(), r.out());
        assertTrue(Integer.parseInt(fitted.group(1)) < 2 * frames, "--max-frames 200 samples fewer than the " + 2 * frames + " frames");

        Run bad = mert("prepare-labels", "--manifest-dir", manifest.toString(), "--out-dir", tmp.resolve("x").toString(),
                "--kmeans-algorithm", "elkan");
        assertNotEquals(0, bad.code());
        assertTrue(bad.err().contains("--kmeans-algorithm elkan is not known; use lloyd or minibatch"), bad.err());
        Run misplaced = mert("prepare-labels", "--manifest-dir", manifest.toString(), "--out-dir", tmp.resolve("y").toString(),
                "--batch-size", "64");
        assertNotEquals(0, misplaced.code());
        assertTrue(misplaced.err().contains("--batch-size is for --kmeans-algorithm minibatch"), misplaced.err());
    }
}
