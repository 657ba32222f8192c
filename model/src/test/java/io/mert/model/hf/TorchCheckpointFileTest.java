package io.mert.model.hf;

import io.mert.model.checkpoint.CheckpointFormatException;
import io.mert.model.checkpoint.FloatTensor;
import io.mert.model.checkpoint.SafeTensors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * torch.save files read by the restricted unpickler: the tensors equal what torch itself wrote
 * (the generator stored the same tensors, widened to float32 by torch, in a safetensors file), and
 * pickles that would run code in Python are refused before anything is called.
 */
class TorchCheckpointFileTest {

    @Test
    void readsTheTensorsTorchSaved() throws IOException {
        Map<String, FloatTensor> expected = SafeTensors.readAll(HfFixtures.path("pickle/state.safetensors"));
        try (TorchCheckpointFile f = TorchCheckpointFile.open(HfFixtures.path("pickle/state.bin"))) {
            assertEquals(expected.keySet(), f.tensors().keySet());
            assertEquals("half", f.tensors().get("f16").dtype());
            assertEquals("bfloat16", f.tensors().get("bf16").dtype());
            assertEquals("double", f.tensors().get("f64").dtype());
            for (Map.Entry<String, FloatTensor> e : expected.entrySet()) {
                FloatTensor got = f.read(e.getKey());
                // numpy.ascontiguousarray gave the generator's 0-d scalar the shape [1] in the safetensors copy
                long[] shape = e.getKey().equals("scalar") ? new long[0] : e.getValue().shape();
                assertArrayEquals(shape, got.shape(), e.getKey() + " shape");
                // torch's own widening/rounding to float32 is exact and unique: bit equality.
                assertArrayEquals(e.getValue().data(), got.data(), e.getKey() + " values");
            }
        }
    }

    @ParameterizedTest
    @CsvSource({
            "hostile_os_system.pkl, posix.system",
            "hostile_builtins_eval.pkl, __builtin__.eval",
            "hostile_torch_load.pkl, torch.serialization.load",
    })
    void refusesGlobalsOffTheAllowList(String file, String global) throws IOException {
        byte[] pickle = Files.readAllBytes(HfFixtures.path("pickle/" + file));
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class, () -> RestrictedUnpickler.stateDict(pickle, file));
        assertTrue(e.getMessage().contains("'" + global + "'") && e.getMessage().contains("allow-list"), e.getMessage());
    }

    @ParameterizedTest
    @CsvSource({"hostile_os_system.bin", "hostile_builtins_eval.bin", "hostile_torch_load.bin"})
    void refusesHostileArchives(String file) {
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class,
                () -> TorchCheckpointFile.open(HfFixtures.path("pickle/" + file)).close());
        assertTrue(e.getMessage().contains("allow-list"), e.getMessage());
    }

    @Test
    void refusesCallingAnAllowedNonFunction() throws IOException {
        byte[] pickle = Files.readAllBytes(HfFixtures.path("pickle/hostile_storage_call.pkl"));
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class, () -> RestrictedUnpickler.stateDict(pickle, "x"));
        assertTrue(e.getMessage().contains("REDUCE on the global torch.FloatStorage"), e.getMessage());
    }

    @Test
    void refusesOpcodesOutsideTheStateDictSet() {
        // protocol 2, GLOBAL-free INST opcode ('i' module\nname\n), which instantiates a class in Python
        byte[] inst = "\u0080\u0002(iposix\nsystem\n.".getBytes(StandardCharsets.ISO_8859_1);
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class, () -> RestrictedUnpickler.stateDict(inst, "inst"));
        assertTrue(e.getMessage().contains("opcode 0x69"), e.getMessage());
        byte[] truncated = {(byte) 0x80, 2, '}', 'X', 100, 0, 0, 0, 'a'};
        e = assertThrows(CheckpointFormatException.class, () -> RestrictedUnpickler.stateDict(truncated, "t"));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
        byte[] huge = {(byte) 0x80, 2, 'X', (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x7f};
        e = assertThrows(CheckpointFormatException.class, () -> RestrictedUnpickler.stateDict(huge, "h"));
        assertTrue(e.getMessage().contains("exceeds"), e.getMessage());
        byte[] notDict = {(byte) 0x80, 2, 'K', 5, '.'};
        e = assertThrows(CheckpointFormatException.class, () -> RestrictedUnpickler.stateDict(notDict, "n"));
        assertTrue(e.getMessage().contains("not a state dict"), e.getMessage());
    }

    @Test
    void refusesLegacyAndForeignFiles(@TempDir Path dir) throws IOException {
        Path legacy = dir.resolve("legacy.bin");
        Files.write(legacy, new byte[] {(byte) 0x80, 2, (byte) 0x8a, 0x0a, 0x6c, (byte) 0xfc});
        assertTrue(assertThrows(CheckpointFormatException.class, () -> TorchCheckpointFile.open(legacy))
                .getMessage().contains("legacy"));
        Path text = dir.resolve("text.bin");
        Files.writeString(text, "hello");
        assertThrows(CheckpointFormatException.class, () -> TorchCheckpointFile.open(text));
    }

    @Test
    void refusesAStorageSmallerThanItsTensor(@TempDir Path dir) throws IOException {
        // Take the fixture's pickle but give storage 0 (12 floats declared) only 8 bytes.
        Path src = HfFixtures.path("pickle/state.bin");
        Path bad = dir.resolve("short.bin");
        try (java.util.zip.ZipFile in = new java.util.zip.ZipFile(src.toFile());
             ZipOutputStream out = new ZipOutputStream(Files.newOutputStream(bad))) {
            for (var en = in.entries(); en.hasMoreElements(); ) {
                ZipEntry e = en.nextElement();
                byte[] data = in.getInputStream(e).readAllBytes();
                if (e.getName().endsWith("/data/0")) data = java.util.Arrays.copyOf(data, 8);
                out.putNextEntry(new ZipEntry(e.getName()));
                out.write(data);
                out.closeEntry();
            }
        }
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class, () -> TorchCheckpointFile.open(bad));
        assertTrue(e.getMessage().contains("holds 8 bytes"), e.getMessage());
    }

    @Test
    void halfConversionMatchesDefinition() {
        // 0x3c00 = 1, 0xc000 = -2, 0x0001 = 2^-24 (smallest subnormal), 0x7bff = 65504 (largest finite)
        assertEquals(1f, TorchCheckpointFile.halfToFloat((short) 0x3c00));
        assertEquals(-2f, TorchCheckpointFile.halfToFloat((short) 0xc000));
        assertEquals((float) Math.pow(2, -24), TorchCheckpointFile.halfToFloat((short) 0x0001));
        assertEquals(65504f, TorchCheckpointFile.halfToFloat((short) 0x7bff));
    }
}
