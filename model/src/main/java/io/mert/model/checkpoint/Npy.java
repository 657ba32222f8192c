package io.mert.model.checkpoint;

import io.mert.model.optim.FlatArrays;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * NumPy's .npy format for float32 arrays of any rank: magic {@code \x93NUMPY}, version, a
 * little-endian header length, an ASCII dict {@code {'descr': '<f4', 'fortran_order': False, 'shape': (..), }}
 * padded with spaces and a newline to a 64-byte boundary, then the values in C order. Writes version
 * 1.0 (2.0 when the header would not fit); reads 1.0, 2.0 and 3.0.
 */
public final class Npy {

    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final int ALIGN = 64;
    private static final int MAX_HEADER_BYTES = 1 << 20;
    private static final Pattern DESCR = Pattern.compile("'descr'\\s*:\\s*'([^']*)'");
    private static final Pattern FORTRAN = Pattern.compile("'fortran_order'\\s*:\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape'\\s*:\\s*\\(([^)]*)\\)");

    private Npy() {}

    /** Writes {@code data} with {@code shape} (C order) to {@code file}, atomically. */
    public static void write(Path file, long[] shape, float[] data) throws IOException {
        long n = numel(shape);
        if (n != data.length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " needs " + n + " values, got " + data.length);
        }
        AtomicFiles.write(file, ch -> {
            AtomicFiles.writeFully(ch, header(shape));
            ByteBuffer buf = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
            FloatBuffer fb = buf.asFloatBuffer();
            for (int off = 0; off < data.length; ) {
                int k = Math.min(fb.capacity(), data.length - off);
                fb.clear();
                fb.put(data, off, k);
                buf.clear().limit(k * Float.BYTES);
                AtomicFiles.writeFully(ch, buf);
                off += k;
            }
        });
    }

    /** Writes an ND4J array of any rank as float32 in C order, streaming from its off-heap memory. */
    public static void write(Path file, INDArray array) throws IOException {
        INDArray a = array;
        if (a.dataType() != DataType.FLOAT) a = a.castTo(DataType.FLOAT);
        if (!FlatArrays.isContiguous(a)) a = a.dup('c');
        INDArray flat = FlatArrays.requireFlatFloat(a, "array for " + file);
        long[] shape = array.shape();
        AtomicFiles.write(file, ch -> {
            AtomicFiles.writeFully(ch, header(shape));
            try {
                FlatArrays.forEachByteChunk(flat, 0, flat.length(), chunk -> {
                    try {
                        AtomicFiles.writeFully(ch, chunk);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                });
            } catch (UncheckedIOException e) {
                throw e.getCause();
            }
        });
    }

    /** Builds the magic, version and padded header dict for a float32 C-order array. */
    public static ByteBuffer header(long[] shape) {
        StringBuilder dims = new StringBuilder();
        for (long d : shape) dims.append(d).append(", ");
        String tuple = shape.length == 1 ? "(" + shape[0] + ",)"
                : "(" + (dims.length() == 0 ? "" : dims.substring(0, dims.length() - 2)) + ")";
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': " + tuple + ", }";
        int version = dict.length() + 1 + 10 > 65535 ? 2 : 1;
        int prefix = version == 1 ? 10 : 12;
        int total = (prefix + dict.length() + 1 + ALIGN - 1) / ALIGN * ALIGN;
        String padded = dict + " ".repeat(total - prefix - dict.length() - 1) + "\n";
        ByteBuffer b = ByteBuffer.allocate(total).order(ByteOrder.LITTLE_ENDIAN);
        b.put(MAGIC).put((byte) version).put((byte) 0);
        if (version == 1) b.putShort((short) padded.length());
        else b.putInt(padded.length());
        b.put(padded.getBytes(StandardCharsets.US_ASCII));
        return b.flip();
    }

    /** Reads a float32 .npy file ({@code <f4}, or {@code <f8} narrowed; C order). */
    public static FloatTensor read(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            ByteBuffer pre = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
            if (size < 10) throw new CheckpointFormatException(file + ": " + size + " bytes is too short for a .npy file");
            pre.limit((int) Math.min(12, size));
            SafeTensors.readFully(ch, pre, 0, file.toString());
            pre.flip();
            for (byte m : MAGIC) {
                if (pre.get() != m) throw new CheckpointFormatException(file + ": missing the \\x93NUMPY magic: not a .npy file");
            }
            int major = pre.get() & 0xff;
            pre.get(); // minor
            long headerLen;
            int prefix;
            if (major == 1) {
                headerLen = pre.getShort() & 0xffff;
                prefix = 10;
            } else if (major == 2 || major == 3) {
                if (size < 12) throw new CheckpointFormatException(file + ": truncated .npy preamble");
                headerLen = pre.getInt() & 0xffffffffL;
                prefix = 12;
            } else {
                throw new CheckpointFormatException(file + ": .npy format version " + major + " is not supported (1, 2, 3 are)");
            }
            if (headerLen > MAX_HEADER_BYTES || prefix + headerLen > size) {
                throw new CheckpointFormatException(file + ": header length " + headerLen + " is larger than the file or the "
                        + MAX_HEADER_BYTES + "-byte limit: truncated or corrupt");
            }
            ByteBuffer hb = ByteBuffer.allocate((int) headerLen);
            SafeTensors.readFully(ch, hb, prefix, file.toString());
            String dict = new String(hb.array(), major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);

            String descr = match(DESCR, dict, "descr", file);
            if (!descr.equals("<f4") && !descr.equals("<f8")) {
                throw new CheckpointFormatException(file + ": dtype '" + descr + "' is not supported (little-endian float32 '<f4' or float64 '<f8')");
            }
            if (match(FORTRAN, dict, "fortran_order", file).equals("True")) {
                throw new CheckpointFormatException(file + ": Fortran-order arrays are not supported; save with C order");
            }
            long[] shape = parseShape(match(SHAPE, dict, "shape", file), file);
            int elem = descr.equals("<f4") ? 4 : 8;
            long n;
            long dataBytes;
            try {
                n = numel(shape);
                dataBytes = Math.multiplyExact(n, elem);
            } catch (ArithmeticException e) {
                throw new CheckpointFormatException(file + ": shape " + Arrays.toString(shape) + " overflows 64 bits");
            }
            long dataStart = prefix + headerLen;
            if (size - dataStart != dataBytes) {
                throw new CheckpointFormatException(file + ": shape " + Arrays.toString(shape) + " needs " + dataBytes
                        + " data bytes but the file holds " + (size - dataStart));
            }
            if (n > Integer.MAX_VALUE - 8) throw new CheckpointFormatException(file + ": " + n + " elements is too many for one Java array");
            float[] data = new float[(int) n];
            ByteBuffer buf = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
            long pos = dataStart;
            for (int off = 0; off < data.length; ) {
                int k = Math.min(buf.capacity() / elem, data.length - off);
                buf.clear().limit(k * elem);
                SafeTensors.readFully(ch, buf, pos, file.toString());
                pos += (long) k * elem;
                buf.flip();
                if (elem == 4) {
                    buf.asFloatBuffer().get(data, off, k);
                } else {
                    for (int i = 0; i < k; i++) data[off + i] = (float) buf.getDouble(i * 8);
                }
                off += k;
            }
            return new FloatTensor(shape, data);
        }
    }

    /**
     * The value of {@code key}, read where the key first appears. Anchoring there (rather than
     * {@code find()}) keeps a hostile header of many unclosed entries linear instead of quadratic.
     */
    private static String match(Pattern p, String dict, String key, Path file) throws CheckpointFormatException {
        int at = dict.indexOf("'" + key + "'");
        Matcher m = p.matcher(dict);
        if (at < 0 || !m.region(at, dict.length()).lookingAt()) {
            String shown = dict.strip();
            if (shown.length() > 200) shown = shown.substring(0, 200) + "...";
            throw new CheckpointFormatException(file + ": header lacks a valid '" + key + "' entry: " + shown);
        }
        return m.group(1);
    }

    private static long[] parseShape(String inner, Path file) throws CheckpointFormatException {
        List<Long> dims = new ArrayList<>();
        for (String part : inner.split(",")) {
            String s = part.strip();
            if (s.endsWith("L")) s = s.substring(0, s.length() - 1); // Python 2 longs
            if (s.isEmpty()) continue;
            try {
                long d = Long.parseLong(s);
                if (d < 0) throw new NumberFormatException();
                dims.add(d);
            } catch (NumberFormatException e) {
                throw new CheckpointFormatException(file + ": bad dimension '" + s + "' in shape (" + inner + ")");
            }
        }
        return dims.stream().mapToLong(Long::longValue).toArray();
    }

    private static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            n = Math.multiplyExact(n, d);
        }
        return n;
    }
}
