package io.mert.cli;

import io.mert.data.WavFile;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * {@code mert prepare-labels --teacher encodec} resumes: a real {@code mert} process is killed (SIGKILL)
 * part way through a split, one of its finished work files is truncated and another has a byte
 * flipped, and a rerun encodes only what is missing or damaged and writes label files byte-identical
 * to those of an uninterrupted run. Uses the reduced-width EnCodec fixture of {@link EncodecLabelsTest}.
 */
class EncodecLabelsResumeTest {
    private static final Path WEIGHTS = EncodecLabelsTest.WEIGHTS;
    private static final List<String> OUTPUTS = outputs();
    private static final Pattern COUNTS = Pattern.compile("(\\d+) files encoded, (\\d+) reused");

    private final List<Process> processes = new ArrayList<>();

    @AfterEach
    void killAll() {
        processes.forEach(Process::destroyForcibly);
    }

    private static List<String> outputs() {
        List<String> names = new ArrayList<>();
        for (int q = 0; q < 8; q++) names.addAll(List.of("train.encodec_" + q, "valid.encodec_" + q, "dict.encodec_" + q + ".txt"));
        return names;
    }

    private record Run(int code, String out, String err) {
        long[] counts() {
            Matcher m = COUNTS.matcher(out);
            assertTrue(m.find(), out);
            return new long[] {Long.parseLong(m.group(1)), Long.parseLong(m.group(2))};
        }
    }

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

    /** Ten train clips and one valid clip of 0.3 to 0.7 s. */
    private static Path corpus(Path tmp) throws Exception {
        Path audio = Files.createDirectories(tmp.resolve("audio")), man = Files.createDirectories(tmp.resolve("manifest"));
        StringBuilder train = new StringBuilder(audio.toAbsolutePath() + "\n"), valid = new StringBuilder(audio.toAbsolutePath() + "\n");
        for (int i = 0; i < 11; i++) {
            String name = "clip" + i + ".wav";
            int samples = 7_000 + 977 * i;
            WavFile.writeMono(audio.resolve(name), clip(samples, 110 + 37 * i, i), 24000, WavFile.Encoding.PCM_16);
            (i < 10 ? train : valid).append(name).append('\t').append(samples).append('\n');
        }
        Files.writeString(man.resolve("train.tsv"), train.toString());
        Files.writeString(man.resolve("valid.tsv"), valid.toString());
        return man;
    }

    private static float[] clip(int samples, double f0, long seed) {
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        float[] x = new float[samples];
        for (int i = 0; i < samples; i++) {
            double t = i / 24000.0;
            x[i] = (float) (0.3 * Math.sin(2 * Math.PI * f0 * t) + 0.2 * Math.sin(2 * Math.PI * 1.5 * f0 * t) + 0.02 * (r.nextDouble() - 0.5));
        }
        return x;
    }

    private static String[] args(Path man, Path out, String... more) {
        List<String> a = new ArrayList<>(List.of("prepare-labels", "--manifest-dir", man.toString(), "--teacher", "encodec",
                "--encodec-weights", WEIGHTS.toString(), "--out-dir", out.toString(), "--threads", "1"));
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    private static List<Path> workFiles(Path dir) throws Exception {
        if (!Files.isDirectory(dir)) return List.of();
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".codes")).sorted().toList();
        }
    }

    private static void assertSameOutputs(Path expected, Path actual) throws Exception {
        for (String name : OUTPUTS) {
            assertArrayEquals(Files.readAllBytes(expected.resolve(name)), Files.readAllBytes(actual.resolve(name)), name);
        }
    }

    @Test
    void aKilledRunResumesWithoutReencodingFinishedFilesAndRedoesDamagedOnes(@TempDir Path tmp) throws Exception {
        Path man = corpus(tmp);
        Path reference = tmp.resolve("reference");
        Run whole = mert(args(man, reference));
        assertEquals(0, whole.code(), whole.err() + whole.out());
        assertArrayEquals(new long[] {11, 0}, whole.counts(), whole.out());
        assertFalse(Files.exists(reference.resolve(".encodec-work")), "the work directory is removed after a successful run");

        // A real mert process whose encoding thread stops after 4 saved files, killed with SIGKILL there.
        Path labels = tmp.resolve("labels"), log = tmp.resolve("killed.log");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED", "-Xmx512m", "-XX:+UseSerialGC",
                "-Dmert.test.encodec.stallAfterFiles=4", "-cp", System.getProperty("java.class.path"), Mert.class.getName()));
        cmd.addAll(List.of(args(man, labels)));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        processes.add(p);
        Path work = labels.resolve(".encodec-work").resolve("train");
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
        while (workFiles(work).size() < 4) {
            if (!p.isAlive()) fail("mert exited (" + p.exitValue() + ") before saving 4 files:\n" + Files.readString(log));
            if (System.nanoTime() > deadline) fail("no 4 work files within 3 minutes:\n" + Files.readString(log));
            Thread.sleep(50);
        }
        p.destroyForcibly();
        assertTrue(p.waitFor(1, TimeUnit.MINUTES));
        List<Path> finished = workFiles(work);
        assertEquals(4, finished.size(), finished.toString());
        assertFalse(Files.exists(labels.resolve("train.encodec_0")), "no label file before a split is complete");

        // damage two of the finished files: one cut short (as a torn write would), one with a flipped byte
        byte[] a = Files.readAllBytes(finished.get(0));
        Files.write(finished.get(0), java.util.Arrays.copyOf(a, a.length / 2));
        byte[] b = Files.readAllBytes(finished.get(1));
        b[b.length / 2] ^= 0x10;
        Files.write(finished.get(1), b);

        Run resumed = mert(args(man, labels));
        assertEquals(0, resumed.code(), resumed.err() + resumed.out());
        assertArrayEquals(new long[] {9, 2}, resumed.counts(), "2 intact files reused, 2 damaged and 7 missing encoded: " + resumed.out());
        assertTrue(resumed.err().contains("prepare-labels encode train") && resumed.err().contains("10/10"),
                "the progress bar counts reused files: " + resumed.err());
        assertSameOutputs(reference, labels);
        assertFalse(Files.exists(labels.resolve(".encodec-work")), "the work directory is removed after a successful run");
    }

    @Test
    void workFilesOfOtherOptionsOrChangedAudioAreNotReused(@TempDir Path tmp) throws Exception {
        Path man = corpus(tmp);
        Path reference = tmp.resolve("reference"), labels = tmp.resolve("labels");
        assertEquals(0, mert(args(man, reference)).code());

        Run four = mert(args(man, labels, "--codebooks", "4", "--keep-work"));
        assertEquals(0, four.code(), four.err() + four.out());
        assertEquals(10, workFiles(labels.resolve(".encodec-work").resolve("train")).size());
        Run again = mert(args(man, labels, "--codebooks", "4", "--keep-work"));
        assertArrayEquals(new long[] {0, 11}, again.counts(), "same options: everything reused: " + again.out());

        Run eight = mert(args(man, labels, "--keep-work"));
        assertArrayEquals(new long[] {11, 0}, eight.counts(), "another codebook count: nothing reused: " + eight.out());
        assertSameOutputs(reference, labels);

        // a re-converted clip (new modification time, same length) is encoded again; the others are not
        Path clip = man.resolveSibling("audio").resolve("clip3.wav");
        Files.setLastModifiedTime(clip, FileTime.fromMillis(Files.getLastModifiedTime(clip).toMillis() + 10_000));
        Run touched = mert(args(man, labels));
        assertArrayEquals(new long[] {1, 10}, touched.counts(), touched.out());
        assertSameOutputs(reference, labels);
        assertFalse(Files.exists(labels.resolve(".encodec-work")), "removed once a run without --keep-work succeeds");
    }
}
