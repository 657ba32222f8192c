package io.mert.model.checkpoint;

import io.mert.model.ParameterLayout;
import io.mert.model.fuzz.Bounded;
import io.mert.model.fuzz.ByteMutation;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Checkpoint files written by our writers, then damaged: safetensors and .npy readers return what the
 * header promises or throw CheckpointFormatException/IOException naming the file, allocating no more
 * than the file's real size; a damaged newest checkpoint makes the store fall back to the previous one
 * and never deletes or changes the older checkpoints.
 */
class CheckpointFuzzTest {
    private static final ParameterLayout LAYOUT = SafeTensorsTest.layout();
    private static Path dir;
    private static byte[] safetensors;
    private static byte[] npy;
    private static Path template;

    @BeforeContainer
    static void writeValidFiles() throws IOException {
        dir = Files.createTempDirectory("ckptfuzz");
        Path st = dir.resolve("valid.safetensors");
        SafeTensors.write(st, LAYOUT, flat(1), Map.of("format", "pt"));
        safetensors = Files.readAllBytes(st);
        Path np = dir.resolve("valid.npy");
        Npy.write(np, new long[] {3, 4, 5}, SafeTensorsTest.values(60, 7));
        npy = Files.readAllBytes(np);
        template = dir.resolve("template-run");
        CheckpointStore store = new CheckpointStore(template, 5);
        for (long step = 1; step <= 2; step++) save(store, step);
    }

    @AfterContainer
    static void removeDir() throws IOException {
        try (var s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }

    private static INDArray flat(long seed) {
        return Nd4j.createFromArray(SafeTensorsTest.values(LAYOUT.totalSize(), seed));
    }

    private static void save(CheckpointStore store, long step) throws IOException {
        store.save(step, LAYOUT, flat(step), flat(step + 10), flat(step + 20), step,
                TrainerState.builder().step(step).numUpdates(step).config(Map.of("common", Map.of("seed", 1))).build());
    }

    @Provide
    Arbitrary<List<ByteMutation>> mutations() {
        return ByteMutation.several();
    }

    private static long budget(Path f) throws IOException {
        return 8L * Files.size(f) + (8 << 20); // the file's size, widened to float, plus fixed buffers (1 MiB chunks)
    }

    @Property(tries = 400)
    void damagedSafetensorsReadAsPromisedOrFailNamingTheFile(@ForAll("mutations") List<ByteMutation> damage) throws IOException {
        Path f = dir.resolve("damaged.safetensors");
        Files.write(f, ByteMutation.applyAll(damage, safetensors));
        var all = Bounded.runNaming(IOException.class, f.toString(), budget(f), () -> SafeTensors.readAll(f));
        if (all.ok()) {
            SafeTensors.Header h = SafeTensors.readHeader(f);
            for (SafeTensors.TensorInfo t : h.tensors()) assertEquals(t.numel(), all.value().get(t.name()).data().length);
        }
        INDArray dst = Nd4j.zeros(org.nd4j.linalg.api.buffer.DataType.FLOAT, LAYOUT.totalSize());
        Bounded.runNaming(IOException.class, f.toString(), budget(f), () -> SafeTensors.readInto(f, LAYOUT, dst, ""));
    }

    @Property(tries = 300)
    void damagedNpyReadsAsPromisedOrFailsNamingTheFile(@ForAll("mutations") List<ByteMutation> damage) throws IOException {
        Path f = dir.resolve("damaged.npy");
        Files.write(f, ByteMutation.applyAll(damage, npy));
        var out = Bounded.runNaming(IOException.class, f.toString(), budget(f), () -> Npy.read(f));
        if (out.ok()) {
            long n = 1;
            for (long d : out.value().shape()) n *= d;
            assertEquals(n, out.value().data().length);
        }
    }

    @Property(tries = 200)
    void forgedSafetensorsHeadersAreRejectedBeforeAllocating(@ForAll("headers") String json) throws IOException {
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(8 + h.length + 64).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Path f = dir.resolve("forged.safetensors");
        Files.write(f, b.array());
        Bounded.runNaming(IOException.class, f.toString(), budget(f), () -> SafeTensors.readAll(f));
    }

    /** Headers whose shapes, offsets and dtypes lie: overlapping, out of range, overflowing, negative, huge. */
    @Provide
    Arbitrary<String> headers() {
        Arbitrary<String> num = Arbitraries.oneOf(Arbitraries.longs().between(-2, 80).map(String::valueOf),
                Arbitraries.of("9223372036854775807", "18446744073709551616", "-9223372036854775808", "1e3", "4294967296", "2.5", "null"));
        Arbitrary<String> dtype = Arbitraries.of("F32", "F16", "BF16", "I64", "F64", "X99", "", "f32");
        Arbitrary<String> tensor = net.jqwik.api.Combinators.combine(dtype, num.list().ofMaxSize(4), num, num)
                .as((d, shape, b, e) -> "{\"dtype\":\"" + d + "\",\"shape\":" + shape + ",\"data_offsets\":[" + b + "," + e + "]}");
        return tensor.list().ofMinSize(1).ofMaxSize(3).map(ts -> {
            StringBuilder s = new StringBuilder("{");
            for (int i = 0; i < ts.size(); i++) s.append(i > 0 ? "," : "").append("\"t").append(i % 2).append("\":").append(ts.get(i));
            return s.append("}").toString();
        });
    }

    @Property(tries = 150)
    void aDamagedNewestCheckpointFallsBackAndOlderOnesStayIntact(@ForAll("checkpointFiles") String file,
                                                                @ForAll("mutations") List<ByteMutation> damage) throws IOException {
        Path run = copyTemplate();
        CheckpointStore store = new CheckpointStore(run, 5);
        Path newest = run.resolve("checkpoints").resolve(CheckpointStore.dirName(2));
        Path target = newest.resolve(file);
        byte[] before = Files.readAllBytes(target);
        byte[] after = ByteMutation.applyAll(damage, before);
        Files.write(target, after);
        Map<String, byte[]> older = snapshot(run.resolve("checkpoints").resolve(CheckpointStore.dirName(1)));

        var out = Bounded.run(IOException.class, 64L << 20, store::loadLatestValid);
        assertTrue(out.ok(), () -> "a damaged newest checkpoint must fall back, not fail: " + out.error());
        Optional<LoadedCheckpoint> c = out.value();
        assertTrue(c.isPresent());
        // A change the SHA256SUMS check cannot see is only one that leaves every covered file as it was.
        if (c.get().step() == 2) assertTrue(file.equals(CheckpointStore.LATEST_FILE) || java.util.Arrays.equals(before, after)
                || file.equals(CheckpointStore.SUMS_FILE), "damage to " + file + " went unnoticed");
        else assertEquals(1, c.get().step());
        INDArray params = Nd4j.zeros(org.nd4j.linalg.api.buffer.DataType.FLOAT, LAYOUT.totalSize());
        c.get().readModel(LAYOUT, params);
        assertArrayEquals(SafeTensorsTest.values(LAYOUT.totalSize(), c.get().step()), params.toFloatVector());

        save(store, 3); // a save after the fallback replaces the damaged step 2 and keeps step 1
        assertSnapshotEquals(older, snapshot(run.resolve("checkpoints").resolve(CheckpointStore.dirName(1))));
        assertEquals(3, store.loadLatestValid().orElseThrow().step());
    }

    @Provide
    Arbitrary<String> checkpointFiles() {
        return Arbitraries.of(CheckpointStore.MODEL_FILE, CheckpointStore.OPTIMIZER_FILE, CheckpointStore.STATE_FILE,
                CheckpointStore.SUMS_FILE);
    }

    /** Regression: a LATEST file of binary garbage threw MalformedInputException instead of being ignored. */
    @Example
    void garbageLatestPointerIsIgnored() throws IOException {
        Path run = copyTemplate();
        Files.write(run.resolve("checkpoints").resolve(CheckpointStore.LATEST_FILE), new byte[] {(byte) 0xff, (byte) 0xfe, 0, 1});
        assertEquals(2, new CheckpointStore(run, 5).loadLatestValid().orElseThrow().step());
        assertTrue(new CheckpointStore(run, 5).latestPointer().isEmpty());
    }

    /** Regression: a directory named step-<20 digits> threw NumberFormatException out of listCheckpoints. */
    @Example
    void stepDirectoryBeyondALongIsIgnored() throws IOException {
        Path run = copyTemplate();
        Files.createDirectories(run.resolve("checkpoints").resolve("step-99999999999999999999"));
        CheckpointStore store = new CheckpointStore(run, 5);
        assertEquals(2, store.listCheckpoints().size());
        assertEquals(2, store.loadLatestValid().orElseThrow().step());
    }

    /** Regression: a trainer state beyond any real one was read whole (a forged 2 GB file meant an OOM). */
    @Example
    void oversizedTrainerStateIsRejectedWithoutReadingIt() throws IOException {
        Path f = dir.resolve("big_state.json");
        try (var ch = java.nio.channels.FileChannel.open(f, java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.wrap(new byte[] {'{'}), TrainerState.MAX_JSON_BYTES + 10); // sparse
        }
        var out = Bounded.runNaming(CheckpointFormatException.class, f.toString(), 1 << 20, () -> TrainerState.read(f));
        assertFalse(out.ok());
    }

    /**
     * Regression: a header of many unclosed "'shape': (" made the shape pattern rescan the rest of
     * the header from each one (quadratic in the 1 MiB the header may have: minutes of CPU).
     */
    @Example
    void repeatedUnclosedShapeKeysDoNotBacktrack() throws IOException {
        String dict = "{'descr': '<f4', 'fortran_order': False, " + "'shape': (".repeat(90_000);
        byte[] h = dict.getBytes(StandardCharsets.ISO_8859_1);
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(12 + h.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0}).putInt(h.length).put(h);
        Path f = dir.resolve("shapes.npy");
        Files.write(f, b.array());
        var out = Bounded.runNaming(CheckpointFormatException.class, f.toString(), 64L << 20, () -> Npy.read(f));
        assertFalse(out.ok());
    }

    @Property(tries = 200)
    void damagedTrainerStateParsesOrFailsNamingTheSource(@ForAll("mutations") List<ByteMutation> damage) {
        byte[] json = TrainerState.builder().step(5).epoch(1).config(Map.of("a", Map.of("b", List.of(1, 2)))).build().toJson();
        byte[] bad = ByteMutation.applyAll(damage, json);
        var out = Bounded.runNaming(CheckpointFormatException.class, "state.json", 64L * bad.length + (4 << 20),
                () -> TrainerState.fromJson(bad, "state.json"));
        if (out.ok()) assertTrue(out.value().step() >= 0 && out.value().config() != null);
    }

    @Example
    void deeplyNestedTrainerStateFailsCleanly() {
        String deep = "{\"format_version\":1,\"config\":" + "{\"a\":".repeat(100_000) + "1" + "}".repeat(100_000) + "}";
        var out = Bounded.runNaming(CheckpointFormatException.class, "deep.json", 256L << 20,
                () -> TrainerState.fromJson(deep.getBytes(StandardCharsets.UTF_8), "deep.json"));
        assertFalse(out.ok());
    }

    private static Path copyTemplate() throws IOException {
        Path run = Files.createTempDirectory(dir, "run");
        try (var s = Files.walk(template)) {
            for (Path p : s.toList()) {
                Path to = run.resolve(template.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(to);
                else Files.copy(p, to);
            }
        }
        return run;
    }

    private static Map<String, byte[]> snapshot(Path d) throws IOException {
        Map<String, byte[]> m = new TreeMap<>();
        try (var s = Files.list(d)) {
            for (Path p : s.toList()) m.put(p.getFileName().toString(), Files.readAllBytes(p));
        }
        return m;
    }

    private static void assertSnapshotEquals(Map<String, byte[]> a, Map<String, byte[]> b) {
        assertEquals(a.keySet(), b.keySet());
        for (String k : a.keySet()) assertArrayEquals(a.get(k), b.get(k), k);
    }
}
