package io.mert.data;

import io.mert.model.checkpoint.AtomicFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.zip.CRC32;

/**
 * The finished files of an interrupted {@code prepare-labels --teacher encodec} run: one small file of
 * codes per encoded manifest entry under {@code <out>/.encodec-work/<split>/}, so a rerun encodes only
 * what is missing.
 *
 * <p>A file is named by a SHA-256 key over everything its codes depend on: the weights' content, the
 * number of codebooks, the audio file's path, size and modification time and the manifest's sample
 * count. A changed entry, weights file or option therefore simply finds no file. Each file repeats its
 * full key and ends with a CRC-32; a file that is short, damaged or of another key is deleted and
 * encoded again, never trusted. Files are written atomically (temporary file, fsync, rename).
 */
final class EncodecWorkDir {
    private static final Logger LOG = LoggerFactory.getLogger(EncodecWorkDir.class);
    /** Directory inside the label directory; the leading dot keeps it out of {@code ls}. */
    static final String NAME = ".encodec-work";
    private static final byte[] MAGIC = "MERTENC1".getBytes(StandardCharsets.US_ASCII);
    private static final int HEADER = MAGIC.length + 32 + 4 + 4;

    private final Path dir;
    private final String weightsDigest;
    private final int codebooks;
    private final int hop;

    /**
     * @param splitDir      {@code <out>/.encodec-work/<split>}
     * @param weightsDigest SHA-256 of the weights file ({@link Sha256#ofFile(Path)})
     */
    EncodecWorkDir(Path splitDir, String weightsDigest, int codebooks, int hop) {
        this.dir = splitDir;
        this.weightsDigest = weightsDigest;
        this.codebooks = codebooks;
        this.hop = hop;
    }

    /** The key of one manifest entry: everything its codes depend on. */
    byte[] key(Path audio, long numSamples) throws IOException {
        Path abs = audio.toAbsolutePath().normalize();
        String k = "encodec-codes v1\nweights " + weightsDigest + "\ncodebooks " + codebooks + "\naudio " + abs + "\nsize "
                + Files.size(abs) + "\nmtime " + Files.getLastModifiedTime(abs).toMillis() + "\nsamples " + numSamples + "\n";
        return Sha256.digest().digest(k.getBytes(StandardCharsets.UTF_8));
    }

    Path file(byte[] key) {
        return dir.resolve(HexFormat.of().formatHex(key, 0, 20) + ".codes");
    }

    /** The codes saved for {@code key}, or null when there are none or the file cannot be trusted (it is then deleted). */
    int[][] load(byte[] key, long numSamples, String what) throws IOException {
        Path f = file(key);
        byte[] b;
        try {
            b = Files.readAllBytes(f);
        } catch (NoSuchFileException e) {
            return null;
        }
        String problem = check(b, key, (numSamples + hop - 1) / hop);
        if (problem != null) {
            LOG.warn("work file {} of {} is not usable ({}); encoding it again", f, what, problem);
            Files.deleteIfExists(f);
            return null;
        }
        ByteBuffer buf = ByteBuffer.wrap(b, HEADER - 8, b.length - HEADER + 8);
        int q = buf.getInt(), frames = buf.getInt();
        int[][] codes = new int[q][frames];
        for (int i = 0; i < q; i++) {
            for (int t = 0; t < frames; t++) codes[i][t] = Short.toUnsignedInt(buf.getShort());
        }
        return codes;
    }

    /** Why {@code b} is not a complete work file of {@code key} with {@code frames} frames, or null when it is. */
    private String check(byte[] b, byte[] key, long frames) {
        if (b.length < HEADER + 8) return "only " + b.length + " bytes";
        ByteBuffer buf = ByteBuffer.wrap(b);
        byte[] magic = new byte[MAGIC.length];
        buf.get(magic);
        if (!java.util.Arrays.equals(magic, MAGIC)) return "not a work file";
        byte[] k = new byte[32];
        buf.get(k);
        if (!java.util.Arrays.equals(k, key)) return "written for another key";
        int q = buf.getInt(), t = buf.getInt();
        if (q != codebooks || t != frames) return q + " codebooks x " + t + " frames, expected " + codebooks + " x " + frames;
        long expectedLength = HEADER + 2L * q * t + 8;
        if (b.length != expectedLength) return b.length + " bytes, expected " + expectedLength;
        CRC32 crc = new CRC32();
        crc.update(b, 0, b.length - 8);
        if (ByteBuffer.wrap(b, b.length - 8, 8).getLong() != crc.getValue()) return "checksum mismatch";
        return null;
    }

    /** Saves {@code codes} for {@code key} atomically. */
    void save(byte[] key, int[][] codes) throws IOException {
        int frames = codes[0].length;
        ByteBuffer buf = ByteBuffer.allocate(HEADER + 2 * codes.length * frames + 8);
        buf.put(MAGIC).put(key).putInt(codes.length).putInt(frames);
        for (int[] row : codes) {
            for (int c : row) {
                if (c < 0 || c > 0xFFFF) throw new IllegalStateException("code " + c + " does not fit a work file");
                buf.putShort((short) c);
            }
        }
        CRC32 crc = new CRC32();
        crc.update(buf.array(), 0, buf.position());
        buf.putLong(crc.getValue());
        AtomicFiles.write(file(key), buf.array());
    }
}
