package io.mert.model.checkpoint;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A {@code SHA256SUMS} file in the format {@code sha256sum} writes and {@code sha256sum -c} checks:
 * one line per file, 64 lowercase hex digits, two spaces, the file name.
 */
public final class Sha256Sums {

    private static final Pattern LINE = Pattern.compile("([0-9a-fA-F]{64}) [ *](.+)");

    private Sha256Sums() {}

    public static MessageDigest newDigest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM lacks SHA-256", e);
        }
    }

    /** Hex SHA-256 of a file's content. */
    public static String hashFile(Path file) throws IOException {
        MessageDigest md = newDigest();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
            while (ch.read(buf) >= 0) {
                buf.flip();
                md.update(buf);
                buf.clear();
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** The file's text for the given name-to-hash map, in map order. */
    public static byte[] format(Map<String, String> hashes) {
        StringBuilder sb = new StringBuilder();
        hashes.forEach((name, hash) -> sb.append(hash.toLowerCase()).append("  ").append(name).append('\n'));
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }

    /** Far above a real SHA256SUMS (a few lines); a larger file is not read. */
    public static final long MAX_BYTES = 1 << 20;

    /** Parses a SHA256SUMS file; names must be plain file names (no directories). */
    public static Map<String, String> parse(Path sumsFile) throws IOException {
        long size = Files.size(sumsFile);
        if (size > MAX_BYTES) throw new CheckpointFormatException(sumsFile + ": " + size + " bytes is too large for a SHA256SUMS file");
        List<String> lines;
        try {
            lines = Files.readAllLines(sumsFile, StandardCharsets.UTF_8);
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new CheckpointFormatException(sumsFile + ": not UTF-8 text (" + e.getMessage() + ")", e);
        }
        Map<String, String> out = new LinkedHashMap<>();
        int lineNo = 0;
        for (String line : lines) {
            lineNo++;
            if (line.isBlank()) continue;
            Matcher m = LINE.matcher(line);
            if (!m.matches()) throw new CheckpointFormatException(sumsFile + " line " + lineNo + " is not '<sha256>  <file>': " + line);
            String name = m.group(2);
            if (name.contains("/") || name.contains("\\") || name.equals("..") || name.equals(".")) {
                throw new CheckpointFormatException(sumsFile + " line " + lineNo + " names '" + name + "'; only plain file names are allowed");
            }
            if (out.put(name, m.group(1).toLowerCase()) != null) {
                throw new CheckpointFormatException(sumsFile + " lists '" + name + "' twice");
            }
        }
        return out;
    }

    /** Checks every listed file in {@code dir}; throws naming the first missing or mismatching one. */
    public static void verify(Path dir, Map<String, String> expected) throws IOException {
        for (Map.Entry<String, String> e : expected.entrySet()) {
            Path f = dir.resolve(e.getKey());
            if (!Files.isRegularFile(f)) throw new CheckpointFormatException(f + " is listed in SHA256SUMS but missing");
            String actual = hashFile(f);
            if (!actual.equals(e.getValue())) {
                throw new CheckpointFormatException(f + ": SHA-256 " + actual + " does not match SHA256SUMS (" + e.getValue() + "): damaged file");
            }
        }
    }

    static String hex(MessageDigest md) {
        return HexFormat.of().formatHex(md.digest());
    }
}
