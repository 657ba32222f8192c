package io.mert.data;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * An interrupted {@code prepare-labels --teacher kmeans} run resumes: the rerun reuses the fit and the
 * splits already labelled, and writes the same files as an uninterrupted run; a changed option or a
 * damaged work file is computed again.
 */
class KMeansResumeTest {
    @TempDir
    Path tmp;
    private Path manifest;

    /** Stands for a crash (kill, power loss) at a given point of the run. */
    private static final class Crash extends RuntimeException {
        Crash(String where) { super("simulated crash at " + where); }
    }

    @BeforeEach
    void corpus() throws IOException {
        DemoCorpus.generate(tmp.resolve("corpus"), 4, 77);
        ManifestBuilder.build(ManifestBuilder.Options.defaults(tmp.resolve("corpus"), tmp.resolve("audio24k"), tmp.resolve("manifest"))
                .withValidFraction(0.25));
        manifest = tmp.resolve("manifest");
    }

    private KMeansTeacher.Options options(String out) {
        return KMeansTeacher.Options.defaults(manifest, tmp.resolve(out)).withK(8).withSeed(3);
    }

    /** Records phases; throws once {@code crashPhase} starts. */
    private static ProgressListener recorder(List<String> phases, String crashPhase) {
        return (phase, done, total) -> {
            if (!phases.contains(phase)) phases.add(phase);
            if (phase.equals(crashPhase)) throw new Crash(phase);
        };
    }

    private static void assertSameFiles(Path expected, Path actual) throws IOException {
        for (String f : List.of("train.km", "valid.km", "dict.km.txt", "km_centroids.npy"))
            assertArrayEquals(Files.readAllBytes(expected.resolve(f)), Files.readAllBytes(actual.resolve(f)), f);
    }

    @Test
    void aRunCrashedWhileLabellingResumesWithoutFittingAgain() throws IOException {
        KMeansTeacher.Result straight = KMeansTeacher.run(options("straight"));
        assertFalse(straight.fitReused());
        assertFalse(Files.exists(tmp.resolve("straight").resolve(KMeansWorkDir.NAME)), "a finished run leaves no work directory");

        List<String> first = new ArrayList<>();
        assertThrows(Crash.class, () -> KMeansTeacher.run(options("resumed"), recorder(first, "labels valid")));
        assertTrue(first.contains("k-means fit"), first.toString());
        assertTrue(Files.exists(tmp.resolve("resumed/train.km")));
        assertFalse(Files.exists(tmp.resolve("resumed/valid.km")));

        List<String> second = new ArrayList<>();
        KMeansTeacher.Result resumed = KMeansTeacher.run(options("resumed"), recorder(second, "none"));
        assertTrue(resumed.fitReused());
        assertEquals(List.of("train"), resumed.splitsReused());
        assertEquals(List.of("labels valid"), second, "only the unfinished split is computed again");
        assertSameFiles(tmp.resolve("straight"), tmp.resolve("resumed"));
        assertFalse(Files.exists(tmp.resolve("resumed").resolve(KMeansWorkDir.NAME)));
    }

    @Test
    void otherOptionsDamagedWorkAndEditedLabelsAreComputedAgain() throws IOException {
        KMeansTeacher.run(options("straight"));
        Path out = tmp.resolve("run");
        Path work = out.resolve(KMeansWorkDir.NAME);

        // another k: the saved fit does not apply
        assertThrows(Crash.class, () -> KMeansTeacher.run(options("run").withK(6), recorder(new ArrayList<>(), "labels valid")));
        assertThrows(Crash.class, () -> KMeansTeacher.run(options("run"), recorder(new ArrayList<>(), "labels valid")));
        // the k=8 crash above replaced the k=6 fit; now damage it
        byte[] fit = Files.readAllBytes(work.resolve("fit.bin"));
        fit[fit.length / 2] ^= 0x10;
        Files.write(work.resolve("fit.bin"), fit);
        assertThrows(Crash.class, () -> KMeansTeacher.run(options("run"), recorder(new ArrayList<>(), "labels valid")));

        // an edited train label file is not vouched for by its marker
        Files.writeString(out.resolve("train.km"), "0 1 2\n", java.nio.file.StandardOpenOption.APPEND);
        List<String> phases = new ArrayList<>();
        KMeansTeacher.Result r = KMeansTeacher.run(options("run"), recorder(phases, "none"));
        assertTrue(r.fitReused(), "the damaged fit was fitted again and saved by the previous attempt");
        assertEquals(List.of(), r.splitsReused());
        assertEquals(List.of("labels train", "labels valid"), phases);
        assertSameFiles(tmp.resolve("straight"), out);
    }

    @Test
    void aDamagedFitIsNotTrusted() throws IOException {
        assertThrows(Crash.class, () -> KMeansTeacher.run(options("run"), recorder(new ArrayList<>(), "labels train")));
        Path fitFile = tmp.resolve("run").resolve(KMeansWorkDir.NAME).resolve("fit.bin");
        byte[] fit = Files.readAllBytes(fitFile);
        Files.write(fitFile, java.util.Arrays.copyOf(fit, fit.length - 7));
        List<String> phases = new ArrayList<>();
        KMeansTeacher.Result r = KMeansTeacher.run(options("run"), recorder(phases, "none"));
        assertFalse(r.fitReused());
        assertTrue(phases.contains("k-means fit"), phases.toString());
        KMeansTeacher.run(options("straight"));
        assertSameFiles(tmp.resolve("straight"), tmp.resolve("run"));
    }
}
