package io.mert.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.mert.telemetry.tensorboard.TfEvent;
import io.mert.telemetry.tensorboard.TfRecords;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A run's TensorBoard directory, read back with our reader, and with TensorBoard's own where its source is present. */
final class TensorBoardFiles {

    private static final ObjectMapper JSON = new ObjectMapper();

    private TensorBoardFiles() {
    }

    static List<Path> files(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().startsWith("events.out.tfevents.")).sorted().toList();
        }
    }

    static List<TfEvent> events(Path file) throws IOException {
        List<TfEvent> out = new ArrayList<>();
        for (byte[] r : TfRecords.readAll(Files.readAllBytes(file))) out.add(TfEvent.decode(r));
        return out;
    }

    /**
     * Tag -> step -> value as TensorBoard shows the directory: files in name order, a SessionLog START
     * at step S dropping what came before at steps >= S (EventAccumulator's purge for file_version 2).
     */
    static Map<String, TreeMap<Long, Float>> scalars(Path dir) throws IOException {
        Map<String, TreeMap<Long, Float>> out = new TreeMap<>();
        for (Path f : files(dir)) {
            for (TfEvent e : events(f)) {
                if (e.sessionStatus() == TfEvent.SESSION_START) out.values().forEach(m -> m.tailMap(e.step(), true).clear());
                for (TfEvent.Scalar s : e.scalars()) {
                    Float old = out.computeIfAbsent(s.tag(), t -> new TreeMap<>()).put(e.step(), s.value());
                    assertTrue(old == null, s.tag() + " written twice at step " + e.step() + " without a restart in between");
                }
            }
        }
        return out;
    }

    /** Loss per step as metrics.jsonl has it, the last line of a step winning (a resumed run redoes steps). */
    static TreeMap<Long, Float> lossFromMetrics(Path runDir) throws Exception {
        TreeMap<Long, Float> out = new TreeMap<>();
        for (JsonNode m : MetricsLog.read(runDir.resolve("metrics.jsonl"))) out.put(m.get("step").asLong(), (float) m.get("loss").asDouble());
        return out;
    }

    /** The tensorboard checkout named by MERT_TENSORBOARD_SRC (system property or environment), or null. */
    static Path tensorBoardSource() {
        String s = System.getProperty("MERT_TENSORBOARD_SRC", System.getenv("MERT_TENSORBOARD_SRC"));
        return s == null || s.isBlank() ? null : Path.of(s);
    }

    /** {@code tools/telemetry/read_tensorboard_events.py} on {@code path} (a directory or one file), under /usr/bin/python3. */
    static JsonNode readWithTensorBoard(Path path) throws Exception {
        Path root = Path.of("").toAbsolutePath();
        while (!Files.exists(root.resolve("tools/telemetry/read_tensorboard_events.py"))) root = root.getParent();
        Process p = new ProcessBuilder("/usr/bin/python3", root.resolve("tools/telemetry/read_tensorboard_events.py").toString(),
                "--tensorboard-src", tensorBoardSource().toString(), path.toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(2, TimeUnit.MINUTES));
        assertEquals(0, p.exitValue(), "read_tensorboard_events.py failed");
        return JSON.readTree(out);
    }

    /** A number as the script prints it (floats as Python reprs of float32, non-finite ones as strings). */
    static float number(JsonNode n) {
        if (n.isTextual()) return Float.parseFloat(n.asText().replace("inf", "Infinity").replace("nan", "NaN"));
        return (float) n.asDouble();
    }
}
