package io.mert.coordinator;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * The run directory's append-only logs: {@code metrics.jsonl} (one object per completed step),
 * {@code events.jsonl} (generations, failures, checkpoints) and {@code valid.jsonl} (one object per
 * validation pass, written once there is one). Each line is flushed as written, so a
 * crash loses at most the line being written; a resumed run appends after what is there.
 */
public final class RunLog implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Writer metrics;
    private final Writer events;
    private final Path validPath;
    private Writer valid; // opened on the first validation record

    public RunLog(Path runDir) {
        try {
            Files.createDirectories(runDir);
            metrics = open(runDir.resolve("metrics.jsonl"));
            events = open(runDir.resolve("events.jsonl"));
            validPath = runDir.resolve("valid.jsonl");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open the run logs in " + runDir, e);
        }
    }

    private static Writer open(Path p) throws IOException {
        return Files.newBufferedWriter(p, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    public static ObjectNode object() {
        return JSON.createObjectNode();
    }

    public void metrics(ObjectNode line) {
        write(metrics, line);
    }

    public void event(ObjectNode line) {
        write(events, line);
    }

    /** One validation pass ({@code valid.jsonl}). */
    public void valid(ObjectNode line) {
        try {
            if (valid == null) valid = open(validPath);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open " + validPath, e);
        }
        write(valid, line);
    }

    private static void write(Writer w, ObjectNode line) {
        try {
            w.write(JSON.writeValueAsString(line));
            w.write('\n');
            w.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot append to the run log", e);
        }
    }

    @Override
    public void close() throws IOException {
        metrics.close();
        events.close();
        if (valid != null) valid.close();
    }
}
