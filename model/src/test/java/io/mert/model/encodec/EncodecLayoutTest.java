package io.mert.model.encodec;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mert.model.checkpoint.CheckpointFormatException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The full-size 24 kHz layout: reference/encodec/layout_24khz.json lists every tensor of
 * {@code encodec_model_24khz()} under HF's facebook/encodec_24khz names and shapes (no weights). Our
 * loader must expect exactly its encoder tensors, and load a file of those shapes (random BF16 values
 * here) as a 128-wide, 32-codebook, 75 Hz encoder. Broken files get errors that name the key.
 */
class EncodecLayoutTest {
    private static Map<String, long[]> layout;

    @TempDir
    Path dir;

    @BeforeAll
    static void read() throws IOException {
        JsonNode json = new ObjectMapper().readTree(EncodecReferenceTest.fixture("layout_24khz.json").toFile());
        assertEquals(32, json.get("n_q").asInt());
        assertEquals(8, json.get("codebooks_at_6kbps").asInt(), "6 kbps = 8 codebooks at 75 Hz");
        assertEquals(75, json.get("frame_rate").asInt());
        layout = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = json.get("tensors").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            long[] shape = new long[e.getValue().size()];
            for (int i = 0; i < shape.length; i++) shape[i] = e.getValue().get(i).asLong();
            layout.put(e.getKey(), shape);
        }
    }

    @Test
    void loaderReadsExactlyTheEncoderTensorsOfTheFullModel() {
        TreeSet<String> encoderKeys = new TreeSet<>();
        for (String k : layout.keySet()) if (k.startsWith("encoder.")) encoderKeys.add(k);
        List<String> expected = EncodecWeights.expectedKeys(2, 32);
        TreeSet<String> expectedEncoder = new TreeSet<>();
        for (String k : expected) if (k.startsWith("encoder.")) expectedEncoder.add(k);
        assertEquals(encoderKeys, expectedEncoder);
        for (String k : expected) assertTrue(layout.containsKey(k), k + " is not in the published layout");
    }

    @Test
    void fullSizeFileLoadsAsThe75HzEncoder() throws IOException {
        Path file = dir.resolve("model.safetensors");
        writeRandom(file, name -> !name.startsWith("decoder."), Map.of());
        EncodecEncoder enc = EncodecWeights.load(file);
        assertEquals(320, enc.hop());
        assertEquals(128, enc.dimension());
        assertEquals(1024, enc.codebookSize());
        assertEquals(32, enc.availableCodebooks());
        float[] wave = new float[24000];
        for (int i = 0; i < wave.length; i++) wave[i] = (float) (0.3 * Math.sin(2 * Math.PI * 440 * i / 24000.0));
        int[][] codes = enc.codes(wave, 8);
        assertEquals(8, codes.length);
        for (int[] c : codes) {
            assertEquals(75, c.length);
            for (int v : c) assertTrue(v >= 0 && v < 1024);
        }
    }

    @Test
    void missingTensorIsNamed() throws IOException {
        Path file = dir.resolve("model.safetensors");
        writeRandom(file, name -> !name.startsWith("decoder.") && !name.equals("encoder.layers.9.conv.weight_v"), Map.of());
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class, () -> EncodecWeights.load(file));
        assertTrue(e.getMessage().contains("encoder.layers.9.conv.weight_v"), e.getMessage());
        assertTrue(e.getMessage().contains("facebook/encodec_24khz"), e.getMessage());
    }

    @Test
    void wrongShapeIsNamed() throws IOException {
        Path file = dir.resolve("model.safetensors");
        writeRandom(file, name -> name.startsWith("encoder.") || name.startsWith("quantizer."),
                Map.of("quantizer.layers.3.codebook.embed", new long[] {1024, 64}));
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class, () -> EncodecWeights.load(file));
        assertTrue(e.getMessage().contains("quantizer.layers.3.codebook.embed has shape [1024, 64], expected [1024, 128]"),
                e.getMessage());
    }

    @Test
    void otherFilesAreRefusedClearly() throws IOException {
        CheckpointFormatException absent = assertThrows(CheckpointFormatException.class,
                () -> EncodecWeights.load(dir.resolve("nope.safetensors")));
        assertTrue(absent.getMessage().contains(EncodecWeights.DOWNLOAD_URL), absent.getMessage());
        Path empty = dir.resolve("other.safetensors");
        writeRandom(empty, name -> name.startsWith("decoder."), Map.of());
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class, () -> EncodecWeights.load(empty));
        assertTrue(e.getMessage().contains("has no tensor 'encoder.layers.0.conv.bias'"), e.getMessage());
    }

    /** A safetensors file of the layout's tensors that {@code keep} accepts, BF16 values uniform in [-0.05, 0.05). */
    static void writeRandom(Path file, Predicate<String> keep, Map<String, long[]> shapeOverrides) throws IOException {
        ObjectNode header = new ObjectMapper().createObjectNode();
        List<Long> sizes = new ArrayList<>();
        long offset = 0;
        for (Map.Entry<String, long[]> e : layout.entrySet()) {
            if (!keep.test(e.getKey())) continue;
            long[] shape = shapeOverrides.getOrDefault(e.getKey(), e.getValue());
            long n = 1;
            for (long d : shape) n *= d;
            ObjectNode t = header.putObject(e.getKey());
            t.put("dtype", "BF16");
            var s = t.putArray("shape");
            for (long d : shape) s.add(d);
            t.putArray("data_offsets").add(offset).add(offset + 2 * n);
            offset += 2 * n;
            sizes.add(n);
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        SplittableRandom rnd = new SplittableRandom(75);
        try (OutputStream out = Files.newOutputStream(file)) {
            out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(json.length).array());
            out.write(json);
            ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
            for (long n : sizes) {
                for (long i = 0; i < n; i++) {
                    if (!buf.hasRemaining()) {
                        out.write(buf.array(), 0, buf.position());
                        buf.clear();
                    }
                    float v = (float) (rnd.nextDouble() * 0.1 - 0.05);
                    buf.putShort((short) (Float.floatToIntBits(v) >>> 16));
                }
            }
            out.write(buf.array(), 0, buf.position());
        }
    }
}
