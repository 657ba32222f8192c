package io.mert.model.checkpoint;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Crash-safe file writes: write to a temporary file in the target's directory, fsync it, rename it
 * over the target, fsync the directory. A reader sees the old file or the complete new one, never half.
 */
public final class AtomicFiles {

    /** Writes the content of one file through an open channel. */
    @FunctionalInterface
    public interface ChannelWriter {
        void write(FileChannel channel) throws IOException;
    }

    private AtomicFiles() {}

    /** Atomically replaces {@code target} with what {@code writer} writes. */
    public static void write(Path target, ChannelWriter writer) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = dir.resolve("." + target.getFileName() + ".tmp-" + Long.toHexString(ThreadLocalRandom.current().nextLong()));
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                writer.write(ch);
                ch.force(true);
            }
            moveAtomically(tmp, target);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        fsyncDirectory(dir);
    }

    /** Writes the content of one file to a buffered stream. */
    @FunctionalInterface
    public interface StreamWriter {
        void write(java.io.OutputStream out) throws IOException;
    }

    /** Atomically replaces {@code target} with what {@code writer} streams (buffered). */
    public static void writeStream(Path target, StreamWriter writer) throws IOException {
        write(target, ch -> {
            java.io.OutputStream out = new java.io.BufferedOutputStream(java.nio.channels.Channels.newOutputStream(ch), 1 << 16);
            writer.write(out);
            out.flush();
        });
    }

    /** Atomically replaces {@code target} with UTF-8 text. */
    public static void writeString(Path target, String text) throws IOException {
        write(target, text.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    /** Atomically replaces {@code target} with {@code bytes}. */
    public static void write(Path target, byte[] bytes) throws IOException {
        write(target, ch -> writeFully(ch, java.nio.ByteBuffer.wrap(bytes)));
    }

    /** Renames atomically; fails rather than fall back to a non-atomic copy. */
    public static void moveAtomically(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            throw new IOException("the file system cannot rename " + from + " to " + to + " atomically", e);
        }
    }

    /** Makes a directory's entries (creations, renames) durable. Best effort where the OS forbids it. */
    public static void fsyncDirectory(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException e) {
            // Some platforms cannot open directories for sync; Linux can, and that is what we run on.
            if (!System.getProperty("os.name", "").toLowerCase().contains("linux")) return;
            throw e;
        }
    }

    public static void writeFully(java.nio.channels.WritableByteChannel ch, java.nio.ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) ch.write(buf);
    }

    /** Deletes a file or a directory tree; absent paths are fine. */
    public static void deleteRecursively(Path path) throws IOException {
        if (!Files.exists(path, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return;
        Files.walkFileTree(path, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.delete(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path d, IOException exc) throws IOException {
                if (exc != null) throw exc;
                Files.delete(d);
                return FileVisitResult.CONTINUE;
            }
        });
    }
}
