package io.mert.model.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class NpyTest {

    @TempDir
    Path dir;

    /** The bytes numpy.save writes for a C-order float32 array (format 1.0, header padded to 64). */
    private static byte[] handCrafted(String shapeTuple, float[] data) {
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shapeTuple + ", }";
        int headerLen = 64 - 10;
        while (headerLen < dict.length() + 1) headerLen += 64;
        String header = dict + " ".repeat(headerLen - dict.length() - 1) + "\n";
        ByteBuffer b = ByteBuffer.allocate(10 + headerLen + data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0);
        b.putShort((short) headerLen).put(header.getBytes(StandardCharsets.US_ASCII));
        for (float f : data) b.putFloat(f);
        return b.array();
    }

    @Test
    void writesExactlyTheBytesNumpyWrites() throws IOException {
        float[] data = {1f, -2.5f, 3.25f, 0f, -0f, 1e-30f};
        Path a = dir.resolve("a.npy");
        Npy.write(a, new long[] {2, 3}, data);
        assertArrayEquals(handCrafted("(2, 3)", data), Files.readAllBytes(a));

        Path b = dir.resolve("b.npy");
        Npy.write(b, Nd4j.createFromArray(data).reshape(2, 3));
        assertArrayEquals(handCrafted("(2, 3)", data), Files.readAllBytes(b));

        Path c = dir.resolve("c.npy");
        Npy.write(c, new long[] {6}, data);
        assertArrayEquals(handCrafted("(6,)", data), Files.readAllBytes(c));

        Path d = dir.resolve("d.npy");
        Npy.write(d, new long[] {}, new float[] {7f});
        assertArrayEquals(handCrafted("()", new float[] {7f}), Files.readAllBytes(d));
    }

    @Test
    void readsHandCraftedFiles() throws IOException {
        float[] data = {0.5f, 1.5f, -3f, 4f, 5f, 6f, 7f, 8f};
        Path f = dir.resolve("h.npy");
        Files.write(f, handCrafted("(2, 2, 2)", data));
        FloatTensor t = Npy.read(f);
        assertArrayEquals(new long[] {2, 2, 2}, t.shape());
        assertArrayEquals(data, t.data());

        // Version 2.0 header (4-byte length) with a float64 payload, narrowed on read.
        String dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }";
        int total = (12 + dict.length() + 1 + 63) / 64 * 64;
        String header = dict + " ".repeat(total - 12 - dict.length() - 1) + "\n";
        ByteBuffer b = ByteBuffer.allocate(12 + header.length() + 24).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 2).put((byte) 0);
        b.putInt(header.length()).put(header.getBytes(StandardCharsets.US_ASCII));
        b.putDouble(1.0).putDouble(-0.125).putDouble(1e10);
        Path v2 = dir.resolve("v2.npy");
        Files.write(v2, b.array());
        assertArrayEquals(new float[] {1f, -0.125f, 1e10f}, Npy.read(v2).data());
    }

    @Test
    void roundTripsAnyRankIncludingNonContiguousViews() throws IOException {
        INDArray a = Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 3, 4, 5);
        INDArray permuted = a.permute(2, 0, 1); // a strided view: must be written in C order of its own shape
        Path f = dir.resolve("p.npy");
        Npy.write(f, permuted);
        FloatTensor t = Npy.read(f);
        assertArrayEquals(new long[] {5, 3, 4}, t.shape());
        assertArrayEquals(permuted.dup('c').reshape(60).toFloatVector(), t.data());
        assertEquals(permuted, t.toINDArray());
    }

    @Test
    void rejectsBadFilesWithClearMessages() throws IOException {
        Path f = dir.resolve("bad.npy");
        Files.write(f, "not numpy at all".getBytes(StandardCharsets.US_ASCII));
        assertTrue(assertThrows(CheckpointFormatException.class, () -> Npy.read(f)).getMessage().contains("magic"));

        byte[] good = handCrafted("(2, 3)", new float[6]);
        Files.write(f, Arrays.copyOf(good, good.length - 4));
        assertTrue(assertThrows(CheckpointFormatException.class, () -> Npy.read(f)).getMessage().contains("needs 24 data bytes"));

        Files.write(f, new String(good, StandardCharsets.ISO_8859_1).replace("False", "True ").getBytes(StandardCharsets.ISO_8859_1));
        assertTrue(assertThrows(CheckpointFormatException.class, () -> Npy.read(f)).getMessage().contains("Fortran"));

        Files.write(f, new String(good, StandardCharsets.ISO_8859_1).replace("<f4", ">f4").getBytes(StandardCharsets.ISO_8859_1));
        assertTrue(assertThrows(CheckpointFormatException.class, () -> Npy.read(f)).getMessage().contains("'>f4'"));
    }

    @Test
    void numpyReadsOurFilesAndWeReadNumpys() throws Exception {
        Assumptions.assumeTrue(PythonCheck.hasModule("numpy"), "numpy is not installed for " + PythonCheck.PYTHON);
        float[] data = new float[24];
        for (int i = 0; i < data.length; i++) data[i] = i * 0.5f - 3;
        Path ours = dir.resolve("ours.npy");
        Npy.write(ours, new long[] {2, 3, 4}, data);
        double absSum = 0;
        for (float v : data) absSum += Math.abs(v);
        assertEquals("(2, 3, 4) float32 " + absSum + " " + (double) data[1 * 12 + 0 * 4 + 1],
                PythonCheck.run("import numpy as np; a = np.load('" + ours + "'); print(a.shape, a.dtype, float(np.abs(a).sum()), float(a[1, 0, 1]))"));
        Path theirs = dir.resolve("theirs.npy");
        PythonCheck.run("import numpy as np; np.save('" + theirs + "', np.arange(12, dtype=np.float32).reshape(3, 4) / 4)");
        FloatTensor t = Npy.read(theirs);
        assertArrayEquals(new long[] {3, 4}, t.shape());
        for (int i = 0; i < 12; i++) assertEquals(i / 4f, t.data()[i]);
    }
}
