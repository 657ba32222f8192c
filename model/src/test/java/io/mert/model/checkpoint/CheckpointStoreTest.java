package io.mert.model.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.mert.model.ParameterLayout;
import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.LoggerFactory;

class CheckpointStoreTest {

    @TempDir
    Path runDir;

    private final ParameterLayout layout = SafeTensorsTest.layout();
    private ListAppender<ILoggingEvent> logs;

    @BeforeEach
    void captureLogs() {
        logs = new ListAppender<>();
        logs.start();
        ((Logger) LoggerFactory.getLogger(CheckpointStore.class)).addAppender(logs);
    }

    @AfterEach
    void releaseLogs() {
        ((Logger) LoggerFactory.getLogger(CheckpointStore.class)).detachAppender(logs);
    }

    /** Parameters and moments that differ per step, so a checkpoint from the wrong step shows. */
    private INDArray[] buffers(long step) {
        long n = layout.totalSize();
        return new INDArray[] {
            Nd4j.createFromArray(SafeTensorsTest.values(n, 100 + step)),
            Nd4j.createFromArray(SafeTensorsTest.values(n, 200 + step)),
            Nd4j.createFromArray(SafeTensorsTest.values(n, 300 + step)),
        };
    }

    private Path save(CheckpointStore store, long step) throws IOException {
        INDArray[] b = buffers(step);
        return store.save(step, layout, b[0], b[1], b[2], step + 5, TrainerStateTest.sample(step));
    }

    private void assertHoldsStep(LoadedCheckpoint c, long step) throws IOException {
        assertEquals(step, c.step());
        assertEquals(step + 5, c.optimizerStep());
        assertEquals(TrainerStateTest.sample(step), c.state());
        INDArray[] expected = buffers(step);
        INDArray p = Nd4j.create(DataType.FLOAT, layout.totalSize());
        INDArray m = Nd4j.create(DataType.FLOAT, layout.totalSize());
        INDArray v = Nd4j.create(DataType.FLOAT, layout.totalSize());
        c.readModel(layout, p);
        c.readOptimizer(layout, m, v);
        SafeTensorsTest.assertSameBits(expected[0].toFloatVector(), p.toFloatVector());
        SafeTensorsTest.assertSameBits(expected[1].toFloatVector(), m.toFloatVector());
        SafeTensorsTest.assertSameBits(expected[2].toFloatVector(), v.toFloatVector());
    }

    private static String sha256(Path f) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(f)));
    }

    @Test
    void saveWritesTheAgreedLayoutAndLoadsBitExact() throws Exception {
        CheckpointStore store = new CheckpointStore(runDir, 3);
        Path dir = save(store, 1000);
        assertEquals(runDir.resolve("checkpoints/step-000001000"), dir);
        assertEquals("step-000001000", Files.readString(runDir.resolve("checkpoints/LATEST")).strip());
        for (String f : List.of("model.safetensors", "optimizer.safetensors", "trainer_state.json", "SHA256SUMS")) {
            assertTrue(Files.isRegularFile(dir.resolve(f)), f);
        }
        // SHA256SUMS in sha256sum's format, checked with an independent digest of each file.
        List<String> lines = Files.readAllLines(dir.resolve("SHA256SUMS"));
        assertEquals(3, lines.size());
        for (String line : lines) {
            assertTrue(line.matches("[0-9a-f]{64}  [a-z_.]+"), line);
            assertEquals(sha256(dir.resolve(line.substring(66))), line.substring(0, 64));
        }
        SafeTensors.Header model = SafeTensors.readHeader(dir.resolve("model.safetensors"));
        assertEquals(layout.entries().stream().map(ParameterLayout.Entry::name).collect(Collectors.toSet()),
                model.byName().keySet());
        assertEquals("pt", model.metadata().get("format"));
        SafeTensors.Header opt = SafeTensors.readHeader(dir.resolve("optimizer.safetensors"));
        assertEquals(2 * layout.entries().size(), opt.tensors().size());
        assertTrue(opt.byName().containsKey("exp_avg.masked_spec_embed"));
        assertTrue(opt.byName().containsKey("exp_avg_sq.masked_spec_embed"));
        assertEquals("1005", opt.metadata().get("optimizer_step"));

        assertHoldsStep(store.load(dir), 1000);
        Optional<LoadedCheckpoint> latest = new CheckpointStore(runDir, 3).loadLatestValid();
        assertTrue(latest.isPresent());
        assertHoldsStep(latest.get(), 1000);
    }

    @Test
    void sha256sumToolAcceptsTheSumsFile() throws Exception {
        File tool = new File("/usr/bin/sha256sum");
        Assumptions.assumeTrue(tool.canExecute(), "sha256sum is not installed");
        Path dir = save(new CheckpointStore(runDir, 3), 7);
        Process p = new ProcessBuilder(tool.getPath(), "--check", "--strict", "SHA256SUMS").directory(dir.toFile())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
    }

    @Test
    void damagedNewestFallsBackToPreviousWithAWarning() throws IOException {
        CheckpointStore store = new CheckpointStore(runDir, 5);
        save(store, 100);
        Path newest = save(store, 200);
        // Flip bytes inside the tensor data of the newest model file.
        Path model = newest.resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(model);
        bytes[bytes.length - 10] ^= 0x55;
        bytes[bytes.length - 11] ^= 0x01;
        Files.write(model, bytes);

        LoadedCheckpoint c = store.loadLatestValid().orElseThrow();
        assertHoldsStep(c, 100);
        List<String> warnings = logs.list.stream().filter(e -> e.getLevel() == Level.WARN).map(ILoggingEvent::getFormattedMessage).toList();
        assertTrue(warnings.stream().anyMatch(w -> w.contains("step-000000200") && w.contains("DAMAGED") && w.contains("SHA-256")), warnings.toString());
        assertTrue(warnings.stream().anyMatch(w -> w.contains("RESUMING FROM AN OLDER CHECKPOINT")), warnings.toString());
        CheckpointFormatException direct = assertThrows(CheckpointFormatException.class, () -> store.load(newest));
        assertTrue(direct.getMessage().contains("model.safetensors"), direct.getMessage());
    }

    @Test
    void incompleteNewestIsSkippedAndLeftoverTemporariesIgnoredThenCleaned() throws IOException {
        CheckpointStore store = new CheckpointStore(runDir, 5);
        save(store, 100);
        Path second = save(store, 200);
        Files.delete(second.resolve("SHA256SUMS")); // as if the sums never made it
        Path leftover = Files.createDirectories(runDir.resolve("checkpoints/.tmp-step-000000300-dead"));
        Files.write(leftover.resolve("model.safetensors"), new byte[] {1, 2, 3});

        assertHoldsStep(store.loadLatestValid().orElseThrow(), 100);
        assertEquals(2, store.listCheckpoints().size(), "the temporary directory is not a checkpoint");

        save(store, 150);
        assertFalse(Files.exists(leftover), "next save removes the leftover temporary directory");
        assertFalse(Files.exists(second), "a checkpoint newer than the one just saved belongs to an abandoned timeline");
        assertHoldsStep(store.loadLatestValid().orElseThrow(), 150);
    }

    @Test
    void truncatedOrForgedSafetensorsInACheckpointFailClearly() throws IOException {
        CheckpointStore store = new CheckpointStore(runDir, 5);
        Path dir = save(store, 10);
        Path opt = dir.resolve("optimizer.safetensors");
        byte[] bytes = Files.readAllBytes(opt);
        Files.write(opt, java.util.Arrays.copyOf(bytes, bytes.length / 2));
        assertTrue(assertThrows(CheckpointFormatException.class, () -> store.load(dir)).getMessage().contains("optimizer.safetensors"));
        // Directly: the reader itself rejects the truncated file and a forged header length.
        assertTrue(assertThrows(CheckpointFormatException.class, () -> SafeTensors.readHeader(opt)).getMessage().contains("truncated"));
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(0, Long.MAX_VALUE);
        Files.write(opt, bytes);
        assertTrue(assertThrows(CheckpointFormatException.class, () -> SafeTensors.readHeader(opt)).getMessage().contains("header length"));
        assertTrue(store.loadLatestValid().isEmpty());
    }

    @Test
    void retentionKeepsTheLastK() throws IOException {
        CheckpointStore store = new CheckpointStore(runDir, 2);
        for (long s = 1; s <= 5; s++) save(store, s * 10);
        assertEquals(List.of("step-000000040", "step-000000050"),
                store.listCheckpoints().stream().map(p -> p.getFileName().toString()).toList());
        assertEquals(runDir.resolve("checkpoints/step-000000050"), store.latestPointer().orElseThrow());
        try (var s = Files.list(runDir.resolve("checkpoints"))) {
            assertEquals(List.of("LATEST", "step-000000040", "step-000000050"), s.map(p -> p.getFileName().toString()).sorted().toList());
        }
    }

    @Test
    void savingTheSameStepAgainReplacesIt() throws IOException {
        CheckpointStore store = new CheckpointStore(runDir, 2);
        save(store, 10);
        INDArray[] b = buffers(99);
        Path dir = store.save(10, layout, b[0], b[1], b[2], 15, TrainerStateTest.sample(10));
        INDArray p = Nd4j.create(DataType.FLOAT, layout.totalSize());
        store.load(dir).readModel(layout, p);
        SafeTensorsTest.assertSameBits(b[0].toFloatVector(), p.toFloatVector());
        assertEquals(1, store.listCheckpoints().size());
    }

    /**
     * The states a crash can leave between the renames of a save (the file system steps a SIGKILL can
     * stop between), reproduced by hand: recovery must put every complete checkpoint back and remove
     * only temporaries, and a resume must then pick the newest complete checkpoint.
     */
    @Test
    void aCrashBetweenTheRenamesOfAReSaveLosesNoCheckpoint() throws IOException {
        CheckpointStore store = new CheckpointStore(runDir, 1); // keep 1: the moved-aside copy is the only one
        save(store, 10);
        Path checkpoints = runDir.resolve("checkpoints");
        // re-save of step 10 killed after moving the old one aside, before the new one was renamed in
        Path aside = checkpoints.resolve(".tmp-old-step-000000010-1a2b");
        Files.move(checkpoints.resolve("step-000000010"), aside);
        Path partial = Files.createDirectories(checkpoints.resolve(".tmp-step-000000010-3c4d"));
        Files.write(partial.resolve("model.safetensors"), new byte[] {1, 2, 3});
        Files.write(checkpoints.resolve(".LATEST.tmp-5e6f"), "step-0000".getBytes(StandardCharsets.US_ASCII));
        assertTrue(store.loadLatestValid().isEmpty(), "without recovery the moved-aside checkpoint is invisible");

        List<String> report = store.recoverInterruptedSaves();
        assertEquals(3, report.size(), report.toString());
        assertTrue(report.get(0).startsWith("restored") && report.get(0).contains("step-000000010"), report.toString());
        assertHoldsStep(store.loadLatestValid().orElseThrow(), 10);
        try (var s = Files.list(checkpoints)) {
            assertEquals(List.of("LATEST", "step-000000010"), s.map(p -> p.getFileName().toString()).sorted().toList());
        }
        assertTrue(logs.list.stream().anyMatch(e -> e.getLevel() == Level.WARN
                && e.getFormattedMessage().contains("partial checkpoint from an interrupted save")));
        assertEquals(List.of(), store.recoverInterruptedSaves(), "nothing left to do");

        // killed after the new one was renamed in, before the old copy was deleted: the new one stays
        INDArray[] b = buffers(99);
        store.save(10, layout, b[0], b[1], b[2], 15, TrainerStateTest.sample(10));
        Path staleCopy = checkpoints.resolve(".tmp-old-step-000000010-7a8b");
        Files.createDirectories(staleCopy);
        store.recoverInterruptedSaves();
        assertFalse(Files.exists(staleCopy));
        INDArray p = Nd4j.create(DataType.FLOAT, layout.totalSize());
        store.loadLatestValid().orElseThrow().readModel(layout, p);
        SafeTensorsTest.assertSameBits(b[0].toFloatVector(), p.toFloatVector());
    }

    @Test
    void retentionDeletesByRenamingFirstSoAKillMidDeletionLeavesNoDamagedCheckpoint() throws IOException {
        CheckpointStore store = new CheckpointStore(runDir, 1);
        save(store, 10);
        // a deletion killed half way: only a temporary name is left, never a half-empty step-* directory
        Path half = Files.createDirectories(runDir.resolve("checkpoints/.tmp-deleted-step-000000005-9c"));
        Files.write(half.resolve("optimizer.safetensors"), new byte[] {7});
        save(store, 20);
        try (var s = Files.list(runDir.resolve("checkpoints"))) {
            assertEquals(List.of("LATEST", "step-000000020"), s.map(p -> p.getFileName().toString()).sorted().toList());
        }
        assertTrue(logs.list.stream().noneMatch(e -> e.getFormattedMessage().contains("DAMAGED")));
    }

    @Test
    void loadingIntoADifferentModelFailsClearly() throws IOException {
        CheckpointStore store = new CheckpointStore(runDir, 2);
        LoadedCheckpoint c = store.load(save(store, 10));
        ParameterLayout other = ParameterLayout.builder().add("encoder.layers.0.attention.q_proj.weight", 6, 5).add("new.weight", 3).build();
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class,
                () -> c.readModel(other, Nd4j.create(DataType.FLOAT, other.totalSize())));
        assertTrue(e.getMessage().contains("new.weight"), e.getMessage());
        ParameterLayout fewer = ParameterLayout.builder().add("masked_spec_embed", 5).build();
        CheckpointFormatException extra = assertThrows(CheckpointFormatException.class,
                () -> c.readModel(fewer, Nd4j.create(DataType.FLOAT, 5)));
        assertTrue(extra.getMessage().contains("does not have"), extra.getMessage());
        assertThrows(IllegalArgumentException.class, () -> store.save(11, layout, buffers(1)[0], buffers(1)[1], buffers(1)[2], 1,
                TrainerStateTest.sample(12)));
        assertEquals(Map.of("format", "pt"), c.modelMetadata());
    }
}
