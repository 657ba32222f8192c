package io.mert.data;

import io.mert.model.MertConfig;
import io.mert.model.features.Mfcc;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** corpus -> prepare-manifest -> prepare-labels --teacher kmeans -> training clips, as `mert demo` runs it. */
class DemoPipelineTest {
    @TempDir
    Path tmp;

    @Test
    void endToEnd() throws IOException {
        DemoCorpus.generate(tmp.resolve("corpus"), 4, 2024);
        ManifestBuilder.Result manifests = ManifestBuilder.build(ManifestBuilder.Options
                .defaults(tmp.resolve("corpus"), tmp.resolve("audio24k"), tmp.resolve("manifest")).withValidFraction(0.25));
        assertEquals(3, manifests.train().size());
        assertEquals(1, manifests.valid().size());
        assertTrue(manifests.skipped().isEmpty());

        KMeansTeacher.Result km = KMeansTeacher.run(KMeansTeacher.Options
                .defaults(tmp.resolve("manifest"), tmp.resolve("labels")).withK(16));
        MertConfig config = MertConfig.mert95M();
        for (String split : List.of("train", "valid")) {
            Manifest m = Manifest.read(tmp.resolve("manifest").resolve(split + ".tsv"));
            List<int[]> rows = LabelFile.read(tmp.resolve("labels").resolve(split + ".km"), 16);
            assertEquals(m.size(), rows.size(), split);
            for (int i = 0; i < m.size(); i++)
                assertEquals(config.framesFor((int) m.entry(i).numSamples()), rows.get(i).length, split + " line " + (i + 1));
        }
        // labels are the nearest centroids of the clip's MFCC frames
        Manifest train = manifests.train();
        float[] feats = Mfcc.mert().features(WavFile.readMono(train.resolve(0)).samples());
        int[] row = LabelFile.read(tmp.resolve("labels/train.km"), 16).get(0);
        for (int t = 0; t < row.length; t += 50) assertEquals(km.model().assign(feats, t), row[t]);
        // music uses more than a couple of clusters
        assertTrue(java.util.Arrays.stream(row).distinct().count() >= 4);

        assertEquals(16, Files.readAllLines(tmp.resolve("labels/dict.km.txt")).size());
        assertEquals("0 1", Files.readAllLines(tmp.resolve("labels/dict.km.txt")).get(0));
        byte[] npy = Files.readAllBytes(tmp.resolve("labels/km_centroids.npy"));
        String header = new String(npy, 10, 118, java.nio.charset.StandardCharsets.US_ASCII);
        assertTrue(header.contains("'shape': (16, 39)"), header);
        assertEquals(128 + 16 * 39 * 4, npy.length);

        int crop = 72000;
        TrainingClips clips = new TrainingClips(train, List.of(tmp.resolve("labels/train.km")), crop, config.framesFor(crop));
        assertEquals(train.size() - clips.skipped().size(), clips.size());
        TrainingClips.Clip c = clips.clip(0, 1337);
        float[] audio = WavFile.readMono(train.resolve(c.entry())).samples();
        assertArrayEquals(java.util.Arrays.copyOfRange(audio, c.startSample(), c.startSample() + crop), c.waveform());
        int[] fileLabels = LabelFile.read(tmp.resolve("labels/train.km"), 16).get(c.entry());
        assertArrayEquals(java.util.Arrays.copyOfRange(fileLabels, c.startSample() / 320, c.startSample() / 320 + config.framesFor(crop)),
                c.labels()[0]);
    }

    /** prepare-labels --kmeans-algorithm minibatch: the same seed writes the same centroids and labels. */
    @Test
    void miniBatchTeacherIsDeterministic() throws IOException {
        DemoCorpus.generate(tmp.resolve("corpus"), 2, 77);
        ManifestBuilder.build(ManifestBuilder.Options.defaults(tmp.resolve("corpus"), tmp.resolve("audio24k"), tmp.resolve("manifest"))
                .withValidFraction(0.0));
        KMeansTeacher.Options o = KMeansTeacher.Options.defaults(tmp.resolve("manifest"), tmp.resolve("a")).withK(8).withMiniBatch(256);
        KMeansTeacher.Result a = KMeansTeacher.run(o);
        KMeansTeacher.Result b = KMeansTeacher.run(new KMeansTeacher.Options(o.manifestDir(), o.splits(), tmp.resolve("b"), o.labelName(),
                o.k(), o.seed(), o.maxFrames(), o.maxIter(), o.restarts(), o.algorithm(), o.batchSize()));
        assertArrayEquals(a.model().centroids(), b.model().centroids());
        assertArrayEquals(Files.readAllBytes(tmp.resolve("a/train.km")), Files.readAllBytes(tmp.resolve("b/train.km")));
        assertArrayEquals(Files.readAllBytes(tmp.resolve("a/km_centroids.npy")), Files.readAllBytes(tmp.resolve("b/km_centroids.npy")));
        Manifest train = Manifest.read(tmp.resolve("manifest/train.tsv"));
        float[] feats = Mfcc.mert().features(WavFile.readMono(train.resolve(0)).samples());
        int[] row = LabelFile.read(tmp.resolve("a/train.km"), 8).get(0);
        for (int t = 0; t < row.length; t += 25) assertEquals(a.model().assign(feats, t), row[t]);
        assertTrue(java.util.Arrays.stream(row).distinct().count() >= 3, "music uses more than a couple of clusters");
    }
}
