package io.mert.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.mert.model.checkpoint.FloatTensor;
import io.mert.model.checkpoint.Npy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** {@code mert demo} at a smaller size: the whole path from synthesised audio to extracted features. */
class DemoEndToEndTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void demoRunsEveryStageAndLeavesAConsistentRunDirectory(@TempDir Path work) throws Exception {
        int code = Mert.execute("demo", "--workdir", work.toString(), "--workers", "2", "--steps", "4", "--clips", "12",
                "--clusters", "8", "--crop-samples", "16000");
        assertEquals(0, code);

        Path run = work.resolve("run");
        List<String> metrics = Files.readAllLines(run.resolve("metrics.jsonl"));
        assertEquals(4, metrics.size());
        for (int i = 0; i < metrics.size(); i++) {
            JsonNode m = JSON.readTree(metrics.get(i));
            assertEquals(i + 1, m.get("step").asInt());
            assertEquals(2, m.get("world_size").asInt());
            assertTrue(Double.isFinite(m.get("loss").asDouble()) && m.get("loss").asDouble() > 0);
            assertTrue(m.get("supervised_frames").asLong() > 0);
        }
        // design layout: step-<9 digits>, LATEST, SHA256SUMS listing every file
        Path ckpt = run.resolve("checkpoints/step-000000004");
        assertEquals("step-000000004", Files.readString(run.resolve("checkpoints/LATEST")).trim());
        for (String f : List.of("model.safetensors", "optimizer.safetensors", "trainer_state.json", "SHA256SUMS")) {
            assertTrue(Files.isRegularFile(ckpt.resolve(f)), f);
        }
        assertTrue(Files.readString(ckpt.resolve("SHA256SUMS")).contains("model.safetensors"));
        JsonNode state = JSON.readTree(ckpt.resolve("trainer_state.json").toFile());
        assertEquals(4, state.get("step").asInt());
        // TensorBoard scalars next to metrics.jsonl, the same losses
        assertEquals(TensorBoardFiles.lossFromMetrics(run), TensorBoardFiles.scalars(run.resolve(TensorBoardLog.DIR)).get("train/loss"));

        try (Stream<Path> s = Files.list(work.resolve("features"))) {
            Path npy = s.filter(p -> p.toString().endsWith(".npy")).findFirst().orElseThrow();
            FloatTensor t = Npy.read(npy);
            assertEquals(3, t.shape().length);
            assertEquals(3, t.shape()[0], "tiny MERT: 2 encoder layers + the input to the encoder");
            assertEquals(64, t.shape()[2]);
            assertTrue(t.shape()[1] > 75, "several seconds of frames at 75 Hz");
        }
    }
}
