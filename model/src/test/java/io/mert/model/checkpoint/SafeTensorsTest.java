package io.mert.model.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.mert.model.ParameterLayout;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class SafeTensorsTest {

    @TempDir
    Path dir;

    static ParameterLayout layout() {
        return ParameterLayout.builder()
                .add("encoder.layers.0.attention.q_proj.weight", 6, 5)
                .add("encoder.layers.0.attention.q_proj.bias", 6)
                .add("masked_spec_embed", 5)
                .add("scalar")           // rank 0: one float
                .add("empty", 0, 3)      // zero elements
                .add("feature_extractor.conv_layers.0.conv.weight", 4, 1, 3)
                .build();
    }

    /** Random values plus the bit patterns that must survive unchanged. */
    static float[] values(long n, long seed) {
        Random r = new Random(seed);
        float[] f = new float[(int) n];
        for (int i = 0; i < f.length; i++) f[i] = (float) r.nextGaussian();
        f[0] = -0.0f;
        f[1] = Float.intBitsToFloat(0x7fc01234); // NaN with a payload
        f[2] = Float.NEGATIVE_INFINITY;
        f[3] = Float.MIN_VALUE;
        return f;
    }

    static void assertSameBits(float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(actual[i]), "float " + i);
        }
    }

    @Test
    void roundTripIsBitExactAndFollowsTheSpec() throws IOException {
        ParameterLayout layout = layout();
        float[] v = values(layout.totalSize(), 1);
        Path file = dir.resolve("model.safetensors");
        SafeTensors.write(file, layout, Nd4j.createFromArray(v), Map.of("format", "pt"));

        // Independent check of the byte layout: u64 LE length, JSON, 8-byte aligned, raw LE floats.
        byte[] bytes = Files.readAllBytes(file);
        ByteBuffer bb = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long n = bb.getLong(0);
        assertEquals(0, n % 8);
        assertEquals(8 + n + layout.totalSize() * 4, bytes.length);
        JsonNode header = new ObjectMapper().readTree(new String(bytes, 8, (int) n, StandardCharsets.UTF_8));
        assertEquals("pt", header.get("__metadata__").get("format").asText());
        for (ParameterLayout.Entry e : layout.entries()) {
            JsonNode t = header.get(e.name());
            assertEquals("F32", t.get("dtype").asText());
            assertEquals(Arrays.toString(e.shape()), Arrays.toString(new ObjectMapper().convertValue(t.get("shape"), long[].class)));
            long begin = t.get("data_offsets").get(0).asLong();
            assertEquals(e.offset() * 4, begin);
            assertEquals(e.size() * 4, t.get("data_offsets").get(1).asLong() - begin);
            for (int i = 0; i < e.size(); i++) {
                assertEquals(Float.floatToRawIntBits(v[(int) (e.offset() + i)]), bb.getInt((int) (8 + n + begin + 4L * i)));
            }
        }

        INDArray back = Nd4j.create(DataType.FLOAT, layout.totalSize());
        assertEquals(List.of(), SafeTensors.readInto(file, layout, back, ""));
        assertSameBits(v, back.toFloatVector());

        Map<String, FloatTensor> all = SafeTensors.readAll(file);
        assertEquals(layout.entries().size(), all.size());
        for (ParameterLayout.Entry e : layout.entries()) {
            FloatTensor t = all.get(e.name());
            assertArrayEquals(e.shape(), t.shape());
            assertSameBits(Arrays.copyOfRange(v, (int) e.offset(), (int) (e.offset() + e.size())), t.data());
        }
        assertEquals(Map.of("format", "pt"), SafeTensors.readHeader(file).metadata());
    }

    @Test
    void tensorsSpanningSeveralBufferChunksRoundTrip() throws IOException {
        int saved = SafeTensors.bufferChunkBytes;
        SafeTensors.bufferChunkBytes = 12; // three floats per chunk
        try {
            ParameterLayout layout = layout();
            float[] v = values(layout.totalSize(), 2);
            Path file = dir.resolve("chunked.safetensors");
            SafeTensors.write(file, layout, Nd4j.createFromArray(v), Map.of());
            INDArray back = Nd4j.create(DataType.FLOAT, layout.totalSize());
            SafeTensors.readInto(file, layout, back, "");
            assertSameBits(v, back.toFloatVector());
        } finally {
            SafeTensors.bufferChunkBytes = saved;
        }
    }

    /** A file assembled by hand from a header string and raw data bytes. */
    private Path handMade(String json, byte[] data) throws IOException {
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).put(data);
        Path f = dir.resolve("hand-" + System.nanoTime() + ".safetensors");
        Files.write(f, b.array());
        return f;
    }

    private static byte[] le(int bytesPerValue, long... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * bytesPerValue).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) {
            if (bytesPerValue == 2) b.putShort((short) v);
            else b.putInt((int) v);
        }
        return b.array();
    }

    @Test
    void readsHalfAndBfloat16WidenedToFloat() throws IOException {
        byte[] f16 = le(2, 0x3C00, 0xC000, 0x7BFF, 0x0001, 0x7C00, 0x8000);   // 1, -2, 65504, 2^-24, inf, -0
        byte[] bf16 = le(2, 0x3F80, 0x4049, 0xC2F7);                        // 1, 3.140625, -123.5
        byte[] f32 = le(4, Float.floatToIntBits(0.25f));
        byte[] data = new byte[f16.length + bf16.length + f32.length];
        System.arraycopy(f16, 0, data, 0, f16.length);
        System.arraycopy(bf16, 0, data, f16.length, bf16.length);
        System.arraycopy(f32, 0, data, f16.length + bf16.length, f32.length);
        // Keys deliberately not in data order.
        String json = "{\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[18,22]},"
                + "\"a\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,12]},"
                + "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[12,18]}}";
        Map<String, FloatTensor> all = SafeTensors.readAll(handMade(json, data));
        assertEquals(List.of("a", "b", "c"), List.copyOf(all.keySet()));
        assertArrayEquals(new long[] {2, 3}, all.get("a").shape());
        assertSameBits(new float[] {1f, -2f, 65504f, (float) Math.pow(2, -24), Float.POSITIVE_INFINITY, -0.0f}, all.get("a").data());
        assertArrayEquals(new float[] {1f, 3.140625f, -123.5f}, all.get("b").data());
        assertArrayEquals(new float[] {0.25f}, all.get("c").data());
    }

    @Test
    void halfPrecisionConversionMatchesDirectFormula() {
        for (int h = 0; h < 0x10000; h++) {
            int exp = (h >>> 10) & 0x1f;
            int mant = h & 0x3ff;
            double sign = (h & 0x8000) != 0 ? -1 : 1;
            float got = SafeTensors.halfToFloat((short) h);
            if (exp == 0x1f) {
                assertTrue(mant == 0 ? Float.isInfinite(got) : Float.isNaN(got), "half " + h);
                continue;
            }
            double expected = exp == 0 ? sign * mant * Math.pow(2, -24) : sign * (1 + mant / 1024.0) * Math.pow(2, exp - 15);
            assertEquals(expected, got, 0.0, "half 0x" + Integer.toHexString(h));
        }
    }

    private void assertRejected(Path file, String messagePart) {
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class, () -> SafeTensors.readAll(file));
        assertTrue(e.getMessage().contains(messagePart), "message '" + e.getMessage() + "' should mention '" + messagePart + "'");
        assertTrue(e.getMessage().contains(file.toString()), "message should name the file: " + e.getMessage());
    }

    @Test
    void truncatedFileIsRejected() throws IOException {
        ParameterLayout layout = layout();
        Path file = dir.resolve("t.safetensors");
        SafeTensors.write(file, layout, Nd4j.createFromArray(values(layout.totalSize(), 3)), Map.of());
        byte[] all = Files.readAllBytes(file);
        Files.write(file, Arrays.copyOf(all, all.length - 7));
        assertRejected(file, "truncated");
        Files.write(file, Arrays.copyOf(all, 5));
        assertRejected(file, "too short");
        Files.write(file, Arrays.copyOf(all, 40)); // header cut in the middle
        assertRejected(file, "exceeds");
    }

    @Test
    void forgedHeaderLengthIsRejectedWithoutAllocating() throws IOException {
        ByteBuffer b = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(1L << 62);
        Path file = dir.resolve("forged.safetensors");
        Files.write(file, b.array());
        assertRejected(file, "outside the allowed range");
        b.putLong(0, -1L);
        Files.write(file, b.array());
        assertRejected(file, "outside the allowed range");
        b.putLong(0, 1000);
        Files.write(file, b.array());
        assertRejected(file, "exceeds");
    }

    @Test
    void malformedHeadersAreRejected() throws IOException {
        byte[] eight = new byte[8];
        assertRejected(handMade("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}", eight), "overlap");
        assertRejected(handMade("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", eight), "gap");
        assertRejected(handMade("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", eight), "trailing");
        assertRejected(handMade("{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", eight), "unknown dtype 'Q4'");
        assertRejected(handMade("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", eight), "need 12");
        assertRejected(handMade("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", eight), "non-negative");
        assertRejected(handMade("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", eight), "end before begin");
        assertRejected(handMade("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", eight), "unexpected field");
        assertRejected(handMade("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", eight), "not valid JSON");
        assertRejected(handMade("{\"__metadata__\":{\"k\":3}}", new byte[0]), "must be a string");
        assertRejected(handMade("[1,2,3]", new byte[0]), "does not start with '{'");
        assertRejected(handMade("{\"a\": ", new byte[0]), "not valid JSON");
        assertRejected(handMade("{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", eight), "only F32, F16 and BF16");
    }

    @Test
    void readIntoNamesMissingAndMisShapedTensors() throws IOException {
        ParameterLayout layout = layout();
        Path file = dir.resolve("m.safetensors");
        SafeTensors.write(file, layout, Nd4j.createFromArray(values(layout.totalSize(), 4)), Map.of());

        ParameterLayout bigger = ParameterLayout.builder().add("masked_spec_embed", 5).add("final_proj.weight", 2, 2).build();
        CheckpointFormatException missing = assertThrows(CheckpointFormatException.class,
                () -> SafeTensors.readInto(file, bigger, Nd4j.create(DataType.FLOAT, bigger.totalSize()), ""));
        assertTrue(missing.getMessage().contains("final_proj.weight"), missing.getMessage());

        ParameterLayout reshaped = ParameterLayout.builder().add("encoder.layers.0.attention.q_proj.weight", 5, 6).build();
        CheckpointFormatException shape = assertThrows(CheckpointFormatException.class,
                () -> SafeTensors.readInto(file, reshaped, Nd4j.create(DataType.FLOAT, 30), ""));
        assertTrue(shape.getMessage().contains("[6, 5]") && shape.getMessage().contains("[5, 6]"), shape.getMessage());

        ParameterLayout subset = ParameterLayout.builder().add("masked_spec_embed", 5).build();
        List<String> unused = SafeTensors.readInto(file, subset, Nd4j.create(DataType.FLOAT, 5), "");
        assertEquals(layout.entries().size() - 1, unused.size());

        assertThrows(IllegalArgumentException.class,
                () -> SafeTensors.readInto(file, layout, Nd4j.create(DataType.FLOAT, layout.totalSize() + 1), ""));
    }

    @Test
    void referenceLibraryReadsOursAndWeReadItsFiles() throws Exception {
        Assumptions.assumeTrue(PythonCheck.hasModule("safetensors.numpy"),
                "the safetensors Python package is not installed for " + PythonCheck.PYTHON);
        ParameterLayout layout = ParameterLayout.builder().add("w", 3, 4).add("b", 4).add("s").build();
        float[] v = new float[(int) layout.totalSize()];
        for (int i = 0; i < v.length; i++) v[i] = i * 0.25f - 1;
        Path ours = dir.resolve("ours.safetensors");
        SafeTensors.write(ours, layout, Nd4j.createFromArray(v), Map.of("format", "pt"));
        String out = PythonCheck.run("from safetensors.numpy import load_file; from safetensors import safe_open\n"
                + "t = load_file('" + ours + "')\n"
                + "m = safe_open('" + ours + "', 'np').metadata()\n"
                + "print(sorted((k, v.dtype.name, v.shape, float(v.sum())) for k, v in t.items()), m)");
        double w = 0, b = 0;
        for (int i = 0; i < 12; i++) w += v[i];
        for (int i = 12; i < 16; i++) b += v[i];
        assertEquals("[('b', 'float32', (4,), " + b + "), ('s', 'float32', (), " + (double) v[16] + "), ('w', 'float32', (3, 4), "
                + w + ")] {'format': 'pt'}", out);

        Path theirs = dir.resolve("theirs.safetensors");
        PythonCheck.run("import numpy as np; from safetensors.numpy import save_file\n"
                + "save_file({'x': np.arange(6, dtype=np.float32).reshape(2, 3) / 8, 'h': np.array([1.5, -2], dtype=np.float16),"
                + " 'i': np.arange(3, dtype=np.int64)}, '" + theirs + "', metadata={'k': 'v'})");
        SafeTensors.Header h = SafeTensors.readHeader(theirs);
        assertEquals(Map.of("k", "v"), h.metadata());
        assertEquals(SafeTensors.DType.I64, h.get("i").dtype());
        ParameterLayout wanted = ParameterLayout.builder().add("x", 2, 3).add("h", 2).build();
        INDArray flat = Nd4j.create(DataType.FLOAT, wanted.totalSize());
        assertEquals(List.of("i"), SafeTensors.readInto(theirs, wanted, flat, ""));
        assertArrayEquals(new float[] {0, 0.125f, 0.25f, 0.375f, 0.5f, 0.625f, 1.5f, -2f}, flat.toFloatVector());
    }
}
