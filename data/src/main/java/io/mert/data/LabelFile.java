package io.mert.data;

import io.mert.model.checkpoint.AtomicFiles;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * HuBERT label files ({@code <split>.<labelName>}): one line per manifest entry, in manifest order,
 * of space-separated non-negative integer tokens, one per label frame (75 Hz in MERT).
 */
public final class LabelFile {
    private LabelFile() {}

    /** Reads every line; each token must be an integer in [0, classes) (pass {@code Integer.MAX_VALUE} to skip the bound). */
    public static List<int[]> read(Path file, int classes) throws IOException {
        List<String> lines = TextLines.read(file, StandardCharsets.US_ASCII);
        // readAllLines already ignores the final newline; an empty line is a clip without frames.
        List<int[]> rows = new ArrayList<>(lines.size());
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty()) {
                rows.add(new int[0]);
                continue;
            }
            String[] tok = line.split(" +");
            int[] row = new int[tok.length];
            for (int j = 0; j < tok.length; j++) {
                int v;
                try {
                    v = Integer.parseInt(tok[j]);
                } catch (NumberFormatException e) {
                    throw new IOException(file + " line " + (i + 1) + " token " + (j + 1) + ": '" + tok[j] + "' is not an integer");
                }
                if (v < 0 || v >= classes)
                    throw new IOException(file + " line " + (i + 1) + " token " + (j + 1) + ": label " + v
                            + " outside [0, " + classes + ")");
                row[j] = v;
            }
            rows.add(row);
        }
        return rows;
    }

    /** Writes the rows atomically, one line each. */
    public static void write(Path file, List<int[]> rows) throws IOException {
        AtomicFiles.writeStream(file, out -> {
            StringBuilder sb = new StringBuilder();
            for (int[] row : rows) {
                sb.setLength(0);
                for (int j = 0; j < row.length; j++) {
                    if (j > 0) sb.append(' ');
                    sb.append(row[j]);
                }
                sb.append('\n');
                out.write(sb.toString().getBytes(StandardCharsets.US_ASCII));
            }
        });
    }

    /** fairseq dictionary for the labels: {@code "<class> 1"} per line, classes 0..k-1. */
    public static void writeDictionary(Path file, int classes) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < classes; i++) sb.append(i).append(" 1\n");
        AtomicFiles.writeString(file, sb.toString());
    }

    /**
     * Number of classes in a fairseq label dictionary ({@code dict.<label>.txt}, one {@code "<class> <count>"}
     * per line), as fairseq's HuBERT task counts them.
     */
    public static int dictionarySize(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IOException("label dictionary " + file + " does not exist: run `mert prepare-labels` for this label "
                    + "or point task.label_dir at the directory holding dict.<label>.txt");
        }
        int n = 0;
        List<String> lines = TextLines.read(file, StandardCharsets.UTF_8);
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.isBlank()) continue;
            if (line.trim().split("\\s+").length != 2) {
                throw new IOException(file + ": line " + (i + 1) + " is not '<class> <count>': " + line);
            }
            n++;
        }
        if (n < 2) throw new IOException(file + " lists " + n + " class(es); a label stream needs at least 2");
        return n;
    }
}
