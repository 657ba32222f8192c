package io.mert.model.hf;

import io.mert.model.checkpoint.CheckpointFormatException;
import io.mert.model.checkpoint.FloatTensor;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * A {@code torch.save} file (the zip format of torch >= 1.6, e.g. HuggingFace's
 * {@code pytorch_model.bin}) holding a state dict of float tensors. The pickle is read by
 * {@link RestrictedUnpickler}, so opening a hostile file runs nothing; every tensor's view is checked
 * against its storage's size before any data is read. Tensors are read one at a time, so memory
 * stays at the size of the largest one.
 */
public final class TorchCheckpointFile implements AutoCloseable {

    static final long MAX_PICKLE_BYTES = 256L << 20;

    /** One tensor: its shape and element type (as torch names the storage). */
    public record TensorInfo(String name, String dtype, long[] shape) {
        public long numel() {
            long n = 1;
            for (long d : shape) n *= d;
            return n;
        }
    }

    private final Path file;
    private final ZipFile zip;
    private final String prefix;
    private final Map<String, RestrictedUnpickler.TensorRef> tensors;

    private TorchCheckpointFile(Path file, ZipFile zip, String prefix, Map<String, RestrictedUnpickler.TensorRef> tensors) {
        this.file = file;
        this.zip = zip;
        this.prefix = prefix;
        this.tensors = tensors;
    }

    public static TorchCheckpointFile open(Path file) throws IOException {
        requireZip(file);
        ZipFile zip = new ZipFile(file.toFile());
        try {
            String prefix = archivePrefix(zip, file);
            ZipEntry byteorder = zip.getEntry(prefix + "byteorder");
            if (byteorder != null) {
                String order = new String(readEntry(zip, byteorder, 16, file), StandardCharsets.US_ASCII).strip();
                if (!order.equals("little")) throw new CheckpointFormatException(file + ": byteorder '" + order + "' is not supported (little only)");
            }
            byte[] pickle = readEntry(zip, zip.getEntry(prefix + "data.pkl"), MAX_PICKLE_BYTES, file);
            Map<String, RestrictedUnpickler.TensorRef> t = RestrictedUnpickler.stateDict(pickle, file + " (" + prefix + "data.pkl)");
            for (Map.Entry<String, RestrictedUnpickler.TensorRef> e : t.entrySet()) validate(zip, prefix, e.getKey(), e.getValue(), file);
            return new TorchCheckpointFile(file, zip, prefix, Collections.unmodifiableMap(t));
        } catch (IOException | RuntimeException e) {
            zip.close();
            throw e;
        }
    }

    /** Every tensor, in the order the file lists them. */
    public Map<String, TensorInfo> tensors() {
        Map<String, TensorInfo> out = new LinkedHashMap<>();
        tensors.forEach((k, t) -> out.put(k, new TensorInfo(k, t.storage().type().name().toLowerCase(), t.shape().clone())));
        return out;
    }

    /** The tensor's values as float32 in row-major order (float16/bfloat16 widened, float64 rounded). */
    public FloatTensor read(String name) throws IOException {
        RestrictedUnpickler.TensorRef t = tensors.get(name);
        if (t == null) throw new IllegalArgumentException(file + " has no tensor '" + name + "'");
        RestrictedUnpickler.StorageRef s = t.storage();
        long n = t.numel();
        if (n > Integer.MAX_VALUE - 8) throw new CheckpointFormatException(file + ": tensor '" + name + "' is too large for one array");
        float[] out = new float[(int) n];
        if (n == 0) return new FloatTensor(t.shape().clone(), out);
        // Only the storage range the view touches is read.
        long last = t.offset();
        for (int d = 0; d < t.shape().length; d++) last += (t.shape()[d] - 1) * t.stride()[d];
        long lo = t.offset();
        ByteBuffer bytes = ByteBuffer.wrap(readRange(s, lo, last + 1)).order(ByteOrder.LITTLE_ENDIAN);
        int rank = t.shape().length;
        long[] idx = new long[rank];
        for (int i = 0; i < out.length; i++) {
            long at = 0;
            for (int d = 0; d < rank; d++) at += idx[d] * t.stride()[d];
            int b = (int) (at * s.type().bytes);
            out[i] = switch (s.type()) {
                case FLOAT -> bytes.getFloat(b);
                case DOUBLE -> (float) bytes.getDouble(b);
                case HALF -> halfToFloat(bytes.getShort(b));
                case BFLOAT16 -> Float.intBitsToFloat((bytes.getShort(b) & 0xffff) << 16);
            };
            for (int d = rank - 1; d >= 0; d--) {
                if (++idx[d] < t.shape()[d]) break;
                idx[d] = 0;
            }
        }
        return new FloatTensor(t.shape().clone(), out);
    }

    public Path file() {
        return file;
    }

    @Override
    public void close() throws IOException {
        zip.close();
    }

    // ---------------------------------------------------------------- checks

    private static void requireZip(Path file) throws IOException {
        byte[] head = new byte[4];
        try (InputStream in = Files.newInputStream(file)) {
            int n = in.readNBytes(head, 0, 4);
            if (n == 4 && head[0] == 'P' && head[1] == 'K') return;
            if (n >= 2 && (head[0] & 0xff) == 0x80) {
                throw new CheckpointFormatException(file + " uses torch's legacy (pre-1.6) serialization, which is not supported: "
                        + "re-save it with a newer torch or convert it to model.safetensors");
            }
        }
        throw new CheckpointFormatException(file + " is not a torch.save zip archive (no 'PK' signature)");
    }

    /** torch names every entry {@code <archive>/...}; the archive name is free (file stem, "archive"). */
    private static String archivePrefix(ZipFile zip, Path file) throws CheckpointFormatException {
        String prefix = null;
        for (Enumeration<? extends ZipEntry> en = zip.entries(); en.hasMoreElements(); ) {
            String n = en.nextElement().getName();
            if (n.endsWith("/data.pkl") && n.indexOf('/') == n.length() - "/data.pkl".length()) {
                if (prefix != null) throw new CheckpointFormatException(file + " holds more than one data.pkl");
                prefix = n.substring(0, n.length() - "data.pkl".length());
            }
        }
        if (prefix == null) throw new CheckpointFormatException(file + " holds no <archive>/data.pkl: not a torch.save file");
        return prefix;
    }

    private static void validate(ZipFile zip, String prefix, String name, RestrictedUnpickler.TensorRef t, Path file)
            throws CheckpointFormatException {
        RestrictedUnpickler.StorageRef s = t.storage();
        ZipEntry e = zip.getEntry(prefix + "data/" + s.key());
        String where = file + ": tensor '" + name + "'";
        if (e == null) throw new CheckpointFormatException(where + " refers to storage " + s.key() + ", which the archive lacks");
        long bytes;
        try {
            bytes = Math.multiplyExact(s.numel(), s.type().bytes);
        } catch (ArithmeticException ex) {
            throw new CheckpointFormatException(where + ": storage size overflows");
        }
        if (e.getSize() != bytes) {
            throw new CheckpointFormatException(where + ": storage " + s.key() + " holds " + e.getSize() + " bytes but declares "
                    + s.numel() + " " + s.type().name().toLowerCase() + " elements (" + bytes + " bytes)");
        }
        long numel = 1;
        for (long d : t.shape()) numel = Math.multiplyExact(numel, d);
        if (numel == 0) return;
        long last = t.offset();
        for (int d = 0; d < t.shape().length; d++) last += (t.shape()[d] - 1) * t.stride()[d];
        if (last >= s.numel()) {
            throw new CheckpointFormatException(where + " shape " + Arrays.toString(t.shape()) + " stride " + Arrays.toString(t.stride())
                    + " offset " + t.offset() + " reaches element " + last + " of a storage of " + s.numel());
        }
    }

    private byte[] readRange(RestrictedUnpickler.StorageRef s, long fromElement, long toElement) throws IOException {
        ZipEntry e = zip.getEntry(prefix + "data/" + s.key());
        long from = fromElement * s.type().bytes;
        long len = (toElement - fromElement) * s.type().bytes;
        if (len > Integer.MAX_VALUE - 8) throw new CheckpointFormatException(file + ": storage " + s.key() + " range too large for one array");
        try (InputStream in = zip.getInputStream(e)) {
            in.skipNBytes(from);
            byte[] out = in.readNBytes((int) len);
            if (out.length != len) throw new CheckpointFormatException(file + ": storage " + s.key() + " is truncated");
            return out;
        }
    }

    private static byte[] readEntry(ZipFile zip, ZipEntry e, long max, Path file) throws IOException {
        if (e.getSize() < 0 || e.getSize() > max) {
            throw new CheckpointFormatException(file + ": entry " + e.getName() + " has size " + e.getSize() + " (limit " + max + ")");
        }
        try (InputStream in = zip.getInputStream(e)) {
            byte[] out = in.readNBytes((int) e.getSize());
            if (out.length != e.getSize()) throw new CheckpointFormatException(file + ": entry " + e.getName() + " is truncated");
            return out;
        }
    }

    /** IEEE 754 binary16 to float. */
    static float halfToFloat(short half) {
        int h = half & 0xffff;
        int sign = (h & 0x8000) << 16;
        int exp = (h >>> 10) & 0x1f;
        int mant = h & 0x3ff;
        if (exp == 0x1f) return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        if (exp == 0) {
            float v = mant * 0x1p-24f;
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }
}
