package io.mert.data;

import io.mert.data.fuzz.Bounded;
import io.mert.data.fuzz.ByteMutation;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Manifests, label files and label dictionaries from strangers: valid files written by our writers,
 * then damaged, plus hand-made hostile lines. Each read succeeds with values that satisfy the
 * format's rules, or fails with an IOException naming the file.
 */
class DatasetTextFuzzTest {
    private static Path dir;

    @BeforeContainer
    static void makeDir() throws IOException {
        dir = Files.createTempDirectory("textfuzz");
    }

    @AfterContainer
    static void removeDir() throws IOException {
        try (var s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }

    @Provide
    Arbitrary<List<ByteMutation>> mutations() {
        return ByteMutation.several();
    }

    @Provide
    Arbitrary<List<String>> pathSegments() {
        return Arbitraries.oneOf(Arbitraries.strings().alpha().numeric().ofMinLength(1).ofMaxLength(8),
                Arbitraries.of("..", ".", "", "/", "/etc/passwd", "a\tb", "ü", "日本", "\u0000", "C:\\x", "~", " ", "a/../..", "\uD800")).list().ofMinSize(1).ofMaxSize(4);
    }

    private static Manifest validManifest(int n) {
        List<Manifest.Entry> e = new ArrayList<>();
        for (int i = 0; i < n; i++) e.add(new Manifest.Entry("d" + (i % 3) + "/clip" + i + ".wav", 1000L + 37 * i));
        return new Manifest(Path.of("/data/audio"), e);
    }

    private static void checkSane(Manifest m) {
        for (Manifest.Entry e : m.entries()) {
            Path p = Path.of(e.path());
            assertFalse(p.isAbsolute(), e.path());
            assertEquals(p, p.normalize(), e.path());
            assertFalse(p.startsWith(".."), e.path());
            assertTrue(m.root().resolve(p).normalize().startsWith(m.root().normalize()), "escapes the root: " + e.path());
            assertTrue(e.numSamples() >= 1 && e.numSamples() <= Manifest.MAX_NUM_SAMPLES, e.toString());
        }
    }

    @Property(tries = 300)
    void damagedManifestsReadSanelyOrFailNamingTheFile(@ForAll @IntRange(min = 0, max = 20) int entries,
                                                       @ForAll("mutations") List<ByteMutation> damage) throws IOException {
        Path f = dir.resolve("train.tsv");
        validManifest(entries).write(f);
        Files.write(f, ByteMutation.applyAll(damage, Files.readAllBytes(f)));
        var m = Bounded.runNaming(IOException.class, f.toString(), 64L * Files.size(f) + (4 << 20), () -> Manifest.read(f));
        if (m.ok()) checkSane(m.value());
    }

    @Property(tries = 300)
    void hostilePathsAndCountsNeverEscapeTheRoot(@ForAll("pathSegments") List<String> segments, @ForAll("counts") String count)
            throws IOException {
        Path f = dir.resolve("hostile.tsv");
        Files.write(f, ("/data/audio\n" + String.join("/", segments) + "\t" + count + "\n").getBytes(StandardCharsets.UTF_8));
        var m = Bounded.runNaming(IOException.class, f.toString(), 4 << 20, () -> Manifest.read(f));
        if (m.ok()) checkSane(m.value());
    }

    @Provide
    Arbitrary<String> counts() {
        return Arbitraries.oneOf(Arbitraries.longs().map(v -> Long.toString(v)),
                Arbitraries.of("0", "-1", "2147483647", "2147483648", "9223372036854775807", "9223372036854775808", "1e9",
                        " 42 ", "0x10", "", "٣"));
    }

    /** Regression: a count above 2^31 was accepted and later broke Math.toIntExact in the k-means teacher. */
    @Example
    void countsBeyondOneJavaArrayAreRejected() throws IOException {
        Path f = dir.resolve("huge.tsv");
        Files.writeString(f, "/data\na.wav\t3000000000\n");
        IOException e = assertThrows(IOException.class, () -> Manifest.read(f));
        assertTrue(e.getMessage().contains(f + " line 2") && e.getMessage().contains("3000000000"), e.getMessage());
    }

    /** Regression: invalid UTF-8 gave the JDK's bare "Input length = 1" with no file name. */
    @Example
    void invalidEncodingNamesTheFile() throws IOException {
        Path tsv = dir.resolve("latin1.tsv");
        Files.write(tsv, "/data\ncaf\u00e9.wav\t100\n".getBytes(StandardCharsets.ISO_8859_1));
        IOException e = assertThrows(IOException.class, () -> Manifest.read(tsv));
        assertTrue(e.getMessage().contains(tsv.toString()) && e.getMessage().contains("UTF-8"), e.getMessage());
        Path km = dir.resolve("train.km");
        Files.write(km, "1 2\n3 \u00b2\n".getBytes(StandardCharsets.UTF_8));
        e = assertThrows(IOException.class, () -> LabelFile.read(km, 10));
        assertTrue(e.getMessage().contains(km.toString()), e.getMessage());
        Path dict = dir.resolve("dict.km.txt");
        Files.write(dict, new byte[] {'0', ' ', '1', '\n', (byte) 0xC3, ' ', '1', '\n'});
        e = assertThrows(IOException.class, () -> LabelFile.dictionarySize(dict));
        assertTrue(e.getMessage().contains(dict.toString()), e.getMessage());
    }

    @Example
    void symlinkedDirectoriesAreFollowedForReadingOnly() throws IOException {
        // The manifest cannot name a path outside its root, but a link below the root is the dataset's own
        // choice (datasets are often assembled from links); the reader does not touch the file system for it.
        Path root = Files.createDirectories(dir.resolve("root"));
        Path outside = Files.createDirectories(dir.resolve("outside"));
        Files.createSymbolicLink(root.resolve("link"), outside);
        Path f = dir.resolve("linked.tsv");
        Files.writeString(f, root + "\nlink/a.wav\t10\n");
        Manifest m = Manifest.read(f);
        assertEquals(outside.toRealPath(), m.resolve(0).getParent().toRealPath());
    }

    @Property(tries = 300)
    void damagedLabelFilesReadInRangeOrFailNamingTheFile(@ForAll @IntRange(min = 2, max = 50) int classes,
                                                         @ForAll("mutations") List<ByteMutation> damage) throws IOException {
        Path f = dir.resolve("train.km");
        List<int[]> rows = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            int[] r = new int[i * 3];
            for (int j = 0; j < r.length; j++) r[j] = (i * 7 + j * 13) % classes;
            rows.add(r);
        }
        LabelFile.write(f, rows);
        Files.write(f, ByteMutation.applyAll(damage, Files.readAllBytes(f)));
        var out = Bounded.runNaming(IOException.class, f.toString(), 64L * Files.size(f) + (4 << 20), () -> LabelFile.read(f, classes));
        if (out.ok()) for (int[] r : out.value()) for (int v : r) assertTrue(v >= 0 && v < classes, "label " + v);
    }

    @Property(tries = 200)
    void damagedDictionariesCountClassesOrFailNamingTheFile(@ForAll @IntRange(min = 2, max = 40) int classes,
                                                            @ForAll("mutations") List<ByteMutation> damage) throws IOException {
        Path f = dir.resolve("dict.km.txt");
        LabelFile.writeDictionary(f, classes);
        Files.write(f, ByteMutation.applyAll(damage, Files.readAllBytes(f)));
        var out = Bounded.runNaming(IOException.class, f.toString(), 64L * Files.size(f) + (4 << 20), () -> LabelFile.dictionarySize(f));
        if (out.ok()) assertTrue(out.value() >= 2, "classes " + out.value());
    }

    /** Labels that do not fit the dictionary, or line counts that do not fit the manifest, fail up front naming the label file. */
    @Property(tries = 100)
    void labelsMismatchingManifestOrDictionaryFailAtConstruction(@ForAll @IntRange(min = 1, max = 6) int entries,
                                                                 @ForAll @IntRange(min = 0, max = 8) int labelLines,
                                                                 @ForAll @IntRange(min = 2, max = 8) int classes,
                                                                 @ForAll @IntRange(min = 0, max = 12) int maxLabel) throws IOException {
        int stride = 4, rate = 100, crop = 40, cropFrames = 10; // 25 Hz labels, 1 s clips = 25 labels
        List<Manifest.Entry> e = new ArrayList<>();
        for (int i = 0; i < entries; i++) e.add(new Manifest.Entry("c" + i + ".wav", 100));
        Manifest m = new Manifest(dir, e);
        List<int[]> rows = new ArrayList<>();
        for (int i = 0; i < labelLines; i++) {
            int[] r = new int[25];
            for (int j = 0; j < r.length; j++) r[j] = (i + j) % (maxLabel + 1);
            rows.add(r);
        }
        Path f = dir.resolve("train.km");
        LabelFile.write(f, rows);
        var out = Bounded.run(IOException.class, 64L << 20,
                () -> new TrainingClips(m, List.of(f), List.of(classes), crop, cropFrames, stride, rate, 0));
        boolean valid = labelLines == entries && (labelLines == 0 || Math.min(maxLabel, 24) < classes);
        assertEquals(valid, out.ok(), () -> "outcome " + out.error());
        if (!out.ok()) assertTrue(out.error().getMessage().contains(f.toString()), out.error().getMessage());
    }
}
