package io.mert.data;

import io.mert.model.checkpoint.AtomicFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.zip.CRC32;

/**
 * What an interrupted {@code prepare-labels --teacher kmeans} run finished, under
 * {@code <out>/.kmeans-work/}: the fitted centroids ({@code fit.bin}) and one marker per labelled split
 * ({@code <split>.done}), so a rerun skips the fit (a feature pass over the fit split plus k-means) and
 * the splits already written.
 *
 * <p>Everything is tied to a SHA-256 key over the options that shape the fit and the fit split's
 * manifest, with each entry's audio size and modification time: another option, manifest or audio
 * simply finds no match. {@code fit.bin} repeats its key and ends with a CRC-32; a split's marker holds
 * the key, a digest of that split's manifest and audio, and the SHA-256 of the label file it vouches for,
 * so an edited or damaged label file is written again. Damaged work files are ignored and rewritten,
 * never trusted. Writes are atomic (temporary file, fsync, rename).
 */
final class KMeansWorkDir {
    private static final Logger LOG = LoggerFactory.getLogger(KMeansWorkDir.class);
    static final String NAME = ".kmeans-work";
    private static final byte[] MAGIC = "MERTKMF1".getBytes(StandardCharsets.US_ASCII);

    private final Path dir;
    private final byte[] key;

    KMeansWorkDir(Path outDir, byte[] key) {
        this.dir = outDir.resolve(NAME);
        this.key = key.clone();
    }

    Path dir() {
        return dir;
    }

    /** The key of a run: the fit options and the fit split's manifest and audio. */
    static byte[] key(KMeansTeacher.Options o, Path manifestDir) throws IOException {
        String opts = "kmeans-fit v1\nk " + o.k() + "\nseed " + o.seed() + "\nmaxFrames " + o.maxFrames() + "\nmaxIter " + o.maxIter()
                + "\nrestarts " + o.restarts() + "\nalgorithm " + o.algorithm() + "\nbatchSize " + o.batchSize() + "\nfit "
                + o.splits().get(0) + "\n" + splitDigest(manifestDir, o.splits().get(0));
        return Sha256.digest().digest(opts.getBytes(StandardCharsets.UTF_8));
    }

    /** Digest of a split: its manifest's bytes and each entry's audio size and modification time. */
    static String splitDigest(Path manifestDir, String split) throws IOException {
        Path tsv = manifestDir.resolve(split + ".tsv");
        MessageDigest d = Sha256.digest();
        d.update(Files.readAllBytes(tsv));
        Manifest m = Manifest.read(tsv);
        for (int i = 0; i < m.size(); i++) {
            Path a = m.resolve(i);
            String s = Files.exists(a) ? Files.size(a) + " " + Files.getLastModifiedTime(a).toMillis() : "missing";
            d.update((i + " " + s + "\n").getBytes(StandardCharsets.UTF_8));
        }
        return HexFormat.of().formatHex(d.digest());
    }

    /** The fitted model of an earlier run with this key, or null (none, another key, or damaged). */
    Fit loadFit() {
        Path f = dir.resolve("fit.bin");
        byte[] b;
        try {
            b = Files.readAllBytes(f);
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            LOG.warn("ignoring unreadable {}: {}", f, e.toString());
            return null;
        }
        int header = MAGIC.length + 32 + 4 + 4 + 4 + 4 + 8;
        if (b.length < header + 4) return damaged(f, "too short");
        CRC32 crc = new CRC32();
        crc.update(b, 0, b.length - 4);
        ByteBuffer buf = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        if ((int) crc.getValue() != buf.getInt(b.length - 4)) return damaged(f, "checksum mismatch");
        byte[] magic = new byte[MAGIC.length];
        buf.get(magic);
        if (!java.util.Arrays.equals(magic, MAGIC)) return damaged(f, "not a k-means work file");
        byte[] k = new byte[32];
        buf.get(k);
        if (!java.util.Arrays.equals(k, key)) {
            LOG.info("{} is from another run (options, manifest or audio changed): fitting again", f);
            return null;
        }
        int clusters = buf.getInt(), dim = buf.getInt(), rows = buf.getInt(), iterations = buf.getInt();
        double inertia = buf.getDouble();
        if (clusters < 1 || dim < 1 || (long) clusters * dim * Float.BYTES != b.length - header - 4L)
            return damaged(f, "wrong size");
        float[] c = new float[clusters * dim];
        buf.asFloatBuffer().get(c);
        return new Fit(new KMeans.Model(clusters, dim, c, inertia, iterations), rows);
    }

    void saveFit(KMeans.Model model, int rows) throws IOException {
        Files.createDirectories(dir);
        int n = MAGIC.length + 32 + 4 + 4 + 4 + 4 + 8 + model.centroids().length * Float.BYTES;
        ByteBuffer buf = ByteBuffer.allocate(n + 4).order(ByteOrder.LITTLE_ENDIAN);
        buf.put(MAGIC).put(key).putInt(model.k()).putInt(model.dim()).putInt(rows).putInt(model.iterations()).putDouble(model.inertia());
        for (float v : model.centroids()) buf.putFloat(v);
        CRC32 crc = new CRC32();
        crc.update(buf.array(), 0, n);
        buf.putInt((int) crc.getValue());
        AtomicFiles.write(dir.resolve("fit.bin"), buf.array());
    }

    /** Whether {@code labelFile} was written by a run with this key for the split as it is now. */
    boolean splitDone(String split, String splitDigest, Path labelFile) {
        Path marker = dir.resolve(split + ".done");
        try {
            if (!Files.exists(marker) || !Files.exists(labelFile)) return false;
            List<String> lines = Files.readAllLines(marker, StandardCharsets.UTF_8);
            return lines.size() == 3 && lines.get(0).equals(HexFormat.of().formatHex(key)) && lines.get(1).equals(splitDigest)
                    && lines.get(2).equals(Sha256.ofFile(labelFile));
        } catch (IOException | RuntimeException e) {
            LOG.warn("ignoring unreadable {}: {}", marker, e.toString());
            return false;
        }
    }

    void markSplitDone(String split, String splitDigest, Path labelFile) throws IOException {
        Files.createDirectories(dir);
        AtomicFiles.writeString(dir.resolve(split + ".done"),
                HexFormat.of().formatHex(key) + "\n" + splitDigest + "\n" + Sha256.ofFile(labelFile) + "\n");
    }

    void delete() throws IOException {
        if (Files.exists(dir)) AtomicFiles.deleteRecursively(dir);
    }

    record Fit(KMeans.Model model, int rows) {}

    private static Fit damaged(Path f, String why) {
        LOG.warn("ignoring damaged {} ({}): fitting again", f, why);
        return null;
    }
}
