package io.mert.data;

import io.mert.model.checkpoint.AtomicFiles;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A fairseq/HuBERT/MERT audio manifest ({@code train.tsv}, {@code valid.tsv}): the first line is the
 * audio root, every further line {@code relative/path<TAB>num_samples}.
 *
 * @param root    directory the entry paths are relative to
 * @param entries clips in manifest order (label files follow this order line by line)
 */
public record Manifest(Path root, List<Entry> entries) {
    /** One clip: path relative to the root (forward slashes) and its length in samples. */
    public record Entry(String path, long numSamples) {}

    public Manifest {
        entries = List.copyOf(entries);
    }

    public int size() { return entries.size(); }

    public Entry entry(int i) { return entries.get(i); }

    /** Absolute location of entry i. */
    public Path resolve(int i) {
        return root.resolve(entries.get(i).path());
    }

    public long totalSamples() {
        return entries.stream().mapToLong(Entry::numSamples).sum();
    }

    /** The longest clip a manifest may declare: one Java float array (readers and teachers hold a clip as one). */
    public static final long MAX_NUM_SAMPLES = Integer.MAX_VALUE - 8;

    /**
     * Reads and validates a manifest: a root line, then {@code path<TAB>count} lines; paths must stay
     * inside the root (no absolute paths, no '.' or '..' segments; symbolic links below the root are
     * followed when the audio is read). Every problem is an {@link IOException} naming the file and line.
     */
    public static Manifest read(Path tsv) throws IOException {
        List<String> lines = TextLines.read(tsv, StandardCharsets.UTF_8);
        if (lines.isEmpty() || lines.get(0).isBlank())
            throw new IOException(tsv + ": empty manifest, the first line must be the audio root directory");
        Path root;
        try {
            root = Path.of(lines.get(0).strip());
        } catch (InvalidPathException e) {
            throw new IOException(tsv + " line 1: invalid root directory '" + lines.get(0) + "'", e);
        }
        List<Entry> entries = new ArrayList<>();
        for (int i = 1; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.isEmpty()) continue;
            String[] parts = line.split("\t", -1);
            if (parts.length != 2)
                throw new IOException(tsv + " line " + (i + 1) + ": expected 'relative/path<TAB>num_samples', got '" + line + "'");
            long n;
            try {
                n = Long.parseLong(parts[1].strip());
            } catch (NumberFormatException e) {
                throw new IOException(tsv + " line " + (i + 1) + ": num_samples '" + parts[1] + "' is not an integer");
            }
            if (n <= 0 || n > MAX_NUM_SAMPLES)
                throw new IOException(tsv + " line " + (i + 1) + ": num_samples must be in [1, " + MAX_NUM_SAMPLES + "], got " + n);
            checkInside(tsv, i + 1, parts[0]);
            entries.add(new Entry(parts[0], n));
        }
        return new Manifest(root, entries);
    }

    private static void checkInside(Path tsv, int line, String rel) throws IOException {
        Path p;
        try {
            p = Path.of(rel);
        } catch (InvalidPathException e) {
            throw new IOException(tsv + " line " + line + ": invalid path '" + rel + "'", e);
        }
        if (rel.isEmpty() || p.isAbsolute() || p.normalize().startsWith("..") || !p.normalize().equals(p))
            throw new IOException(tsv + " line " + line + ": path '" + rel
                    + "' must be relative to the manifest root and must not contain '.' or '..' segments");
    }

    /** Writes the manifest atomically. */
    public void write(Path tsv) throws IOException {
        StringBuilder sb = new StringBuilder(root.toString()).append('\n');
        for (Entry e : entries) {
            if (e.path().contains("\t") || e.path().contains("\n"))
                throw new IllegalArgumentException("path contains a tab or newline, which the manifest format cannot hold: " + e.path());
            sb.append(e.path()).append('\t').append(e.numSamples()).append('\n');
        }
        AtomicFiles.writeString(tsv, sb.toString());
    }
}
