package io.mert.model.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainerStateTest {

    @TempDir
    Path dir;

    static Map<String, Object> config() {
        Map<String, Object> optimization = new LinkedHashMap<>();
        optimization.put("lr", List.of(5e-4));
        optimization.put("max_update", 400000);
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("optimization", optimization);
        c.put("model", Map.of("_name", "mert", "encoder_layers", 12));
        c.put("common", Map.of("seed", 1337));
        return c;
    }

    static TrainerState sample(long step) {
        return TrainerState.builder().step(step).epoch(3).generation(7).samplesConsumedInEpoch(4096).globalBatchSize(64)
                .seed(1337).worldSize(4).numUpdates(step).lastLr(4.25e-4).trainingSeconds(1234.5).config(config())
                .savedAt("2025-01-02T03:04:05Z").extra("note", "x").build();
    }

    @Test
    void jsonRoundTripWithSnakeCaseKeys() throws IOException {
        TrainerState s = sample(1000);
        Path f = dir.resolve("trainer_state.json");
        s.write(f);
        assertEquals(s, TrainerState.read(f));
        JsonNode tree = new ObjectMapper().readTree(Files.readString(f));
        for (String key : List.of("format_version", "step", "epoch", "generation", "samples_consumed_in_epoch", "global_batch_size",
                "seed", "world_size", "num_updates", "last_lr", "config", "config_hash", "saved_at", "training_seconds", "extra")) {
            assertTrue(tree.has(key), "missing key " + key + " in " + tree);
        }
        assertEquals(4096, tree.get("samples_consumed_in_epoch").asLong());
        assertEquals(400000, tree.get("config").get("optimization").get("max_update").asInt());
    }

    @Test
    void configHashIsCanonicalAndSensitive() {
        Map<String, Object> a = config();
        Map<String, Object> reordered = new LinkedHashMap<>();
        reordered.put("common", a.get("common"));
        reordered.put("model", a.get("model"));
        reordered.put("optimization", a.get("optimization"));
        assertEquals(TrainerState.configHash(a), TrainerState.configHash(reordered));
        Map<String, Object> changed = new LinkedHashMap<>(a);
        changed.put("common", Map.of("seed", 1338));
        assertNotEquals(TrainerState.configHash(a), TrainerState.configHash(changed));
        assertEquals(64, TrainerState.configHash(a).length());
    }

    @Test
    void rejectsTamperedOrForeignStates() {
        String json = new String(sample(5).toJson(), StandardCharsets.UTF_8);
        assertThrows(CheckpointFormatException.class,
                () -> TrainerState.fromJson(json.replace("400000", "400001").getBytes(StandardCharsets.UTF_8), "x"));
        CheckpointFormatException version = assertThrows(CheckpointFormatException.class,
                () -> TrainerState.fromJson(json.replace("\"format_version\" : 1", "\"format_version\" : 9").getBytes(StandardCharsets.UTF_8), "x"));
        assertTrue(version.getMessage().contains("format_version 9"), version.getMessage());
        assertThrows(CheckpointFormatException.class, () -> TrainerState.fromJson("{not json".getBytes(StandardCharsets.UTF_8), "x"));
    }
}
