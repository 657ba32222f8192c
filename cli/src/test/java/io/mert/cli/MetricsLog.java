package io.mert.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reads a run's metrics.jsonl while the run writes it (the last line may be half written). */
final class MetricsLog {

    private static final ObjectMapper JSON = new ObjectMapper();

    private MetricsLog() {
    }

    static List<JsonNode> read(Path metrics) throws Exception {
        List<JsonNode> out = new ArrayList<>();
        if (!Files.exists(metrics)) return out;
        for (String line : Files.readAllLines(metrics)) {
            if (line.isBlank()) continue;
            try {
                out.add(JSON.readTree(line));
            } catch (JsonProcessingException partialLastLine) {
                // the line being written
            }
        }
        return out;
    }

    /** Waits until {@code count} steps satisfy {@code test}; returns the last of them. */
    static JsonNode await(Path metrics, int count, Predicate<JsonNode> test, BooleanSupplier stillRunning, String what)
            throws Exception {
        long deadline = System.nanoTime() + Duration.ofMinutes(4).toNanos();
        while (true) {
            List<JsonNode> matching = read(metrics).stream().filter(test).toList();
            if (matching.size() >= count) return matching.get(count - 1);
            assertTrue(stillRunning.getAsBoolean() && System.nanoTime() < deadline, "waited in vain for " + what);
            Thread.sleep(100);
        }
    }
}
