package io.mert.model.checkpoint;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mert.model.ParameterLayout;
import io.mert.model.optim.FlatArrays;
import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The safetensors format (HuggingFace): an 8-byte little-endian header length N, N bytes of JSON
 * mapping each tensor name to {@code {"dtype", "shape", "data_offsets": [begin, end]}} plus an optional
 * {@code "__metadata__"} string map, then the raw little-endian tensor bytes, offsets relative to the
 * end of the header. Writing streams straight from the flat off-heap buffer; reading validates the
 * header strictly (bounded length, known dtypes, sizes that match shapes, ranges that tile the data
 * section exactly) before touching any data.
 */
public final class SafeTensors {

    /** Same bound as the reference implementation: a forged length cannot make us allocate more. */
    public static final long MAX_HEADER_BYTES = 100_000_000L;
    public static final String METADATA_KEY = "__metadata__";

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
    private static final int IO_CHUNK = 1 << 20;
    /** Destination chunk size for readInto/write; tests lower it to exercise tensors spanning chunks. */
    static int bufferChunkBytes = FlatArrays.MAX_CHUNK_BYTES;

    /** Element types of the format; only F32, F16 and BF16 can be read as floats. */
    public enum DType {
        BOOL(1), U8(1), I8(1), F8_E4M3(1), F8_E5M2(1), I16(2), U16(2), F16(2), BF16(2),
        I32(4), U32(4), F32(4), I64(8), U64(8), F64(8);

        public final int bytes;

        DType(int bytes) {
            this.bytes = bytes;
        }

        boolean readableAsFloat() {
            return this == F32 || this == F16 || this == BF16;
        }
    }

    /** One tensor entry of a header; offsets are relative to the start of the data section. */
    public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end) {
        public long numel() {
            long n = 1;
            for (long d : shape) n *= d;
            return n;
        }
    }

    /** A validated header: tensors in data order, metadata, and where the data section starts. */
    public record Header(String file, List<TensorInfo> tensors, Map<String, String> metadata, long dataStart) {
        public TensorInfo get(String name) {
            for (TensorInfo t : tensors) if (t.name().equals(name)) return t;
            return null;
        }

        public Map<String, TensorInfo> byName() {
            Map<String, TensorInfo> m = new LinkedHashMap<>();
            for (TensorInfo t : tensors) m.put(t.name(), t);
            return m;
        }
    }

    /** A tensor to write: {@code shape}'s elements taken from {@code flat} starting at float {@code offset}. */
    public record Source(String name, long[] shape, INDArray flat, long offset) {}

    private SafeTensors() {}

    // ---------------------------------------------------------------- writing

    /** Sources for every tensor of {@code layout}, named {@code prefix + name}, cut from {@code flat}. */
    public static List<Source> sources(ParameterLayout layout, INDArray flat, String prefix) {
        INDArray f = FlatArrays.requireFlatFloat(flat, layout.totalSize(), prefix.isEmpty() ? "flat buffer" : prefix + "* buffer");
        List<Source> out = new ArrayList<>();
        for (ParameterLayout.Entry e : layout.entries()) out.add(new Source(prefix + e.name(), e.shape(), f, e.offset()));
        return out;
    }

    /** Writes the layout's tensors to {@code file}, atomically (temp file, fsync, rename). */
    public static void write(Path file, ParameterLayout layout, INDArray flat, Map<String, String> metadata) throws IOException {
        List<Source> sources = sources(layout, flat, "");
        AtomicFiles.write(file, ch -> write(ch, sources, metadata));
    }

    /** Streams a complete safetensors file to {@code out}; all tensors are stored as F32. */
    public static void write(WritableByteChannel out, List<Source> tensors, Map<String, String> metadata) throws IOException {
        ObjectNode header = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode meta = header.putObject(METADATA_KEY);
            metadata.forEach(meta::put);
        }
        long offset = 0;
        Set<String> names = new HashSet<>();
        List<INDArray> flats = new ArrayList<>();
        for (Source s : tensors) {
            if (s.name().equals(METADATA_KEY) || !names.add(s.name())) {
                throw new IllegalArgumentException("tensor name '" + s.name() + "' is reserved or repeated");
            }
            long numel = numel(s.shape(), s.name());
            INDArray f = FlatArrays.requireFlatFloat(s.flat(), s.name());
            if (s.offset() < 0 || s.offset() + numel > f.length()) {
                throw new IllegalArgumentException("tensor '" + s.name() + "' [" + s.offset() + ", " + (s.offset() + numel)
                        + ") lies outside its buffer of " + f.length() + " floats");
            }
            flats.add(f);
            ObjectNode t = header.putObject(s.name());
            t.put("dtype", DType.F32.name());
            ArrayNode shape = t.putArray("shape");
            for (long d : s.shape()) shape.add(d);
            long bytes = numel * Float.BYTES;
            t.putArray("data_offsets").add(offset).add(offset + bytes);
            offset += bytes;
        }
        byte[] json = JSON.writeValueAsBytes(header);
        int padded = (json.length + 7) / 8 * 8; // readers may map the data; keep it 8-byte aligned
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) head.put((byte) ' ');
        head.flip();
        AtomicFiles.writeFully(out, head);
        try {
            for (int i = 0; i < tensors.size(); i++) {
                Source s = tensors.get(i);
                FlatArrays.forEachByteChunk(flats.get(i), s.offset(), numel(s.shape(), s.name()), bufferChunkBytes, chunk -> {
                    try {
                        AtomicFiles.writeFully(out, chunk);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                });
            }
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }

    private static long numel(long[] shape, String name) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) throw new IllegalArgumentException("tensor '" + name + "' has a negative dimension " + Arrays.toString(shape));
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    // ---------------------------------------------------------------- reading

    public static Header readHeader(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return readHeader(ch, file.toString());
        }
    }

    /** Reads and validates the header of an open file; {@code file} names it in errors. */
    public static Header readHeader(FileChannel ch, String file) throws IOException {
        long size = ch.size();
        if (size < 8) {
            throw new CheckpointFormatException(file + ": " + size + " bytes is too short for a safetensors file (needs an 8-byte header length)");
        }
        ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(ch, lenBuf, 0, file);
        long n = lenBuf.flip().getLong();
        if (n < 2 || n > MAX_HEADER_BYTES) {
            throw new CheckpointFormatException(file + ": header length " + Long.toUnsignedString(n)
                    + " is outside the allowed range [2, " + MAX_HEADER_BYTES + "]: not a safetensors file or a corrupt one");
        }
        if (n > size - 8) {
            throw new CheckpointFormatException(file + ": header length " + n + " exceeds the " + (size - 8)
                    + " bytes that follow it: truncated or corrupt file");
        }
        ByteBuffer hb = ByteBuffer.allocate((int) n);
        readFully(ch, hb, 8, file);
        byte[] headerBytes = hb.array();
        if (headerBytes[0] != '{') {
            throw new CheckpointFormatException(file + ": header does not start with '{': not a safetensors file");
        }
        JsonNode root;
        try {
            root = JSON.readTree(new String(headerBytes, StandardCharsets.UTF_8).stripTrailing());
        } catch (JsonProcessingException e) {
            throw new CheckpointFormatException(file + ": header is not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) throw new CheckpointFormatException(file + ": header is not a JSON object");

        long dataSize = size - 8 - n;
        Map<String, String> metadata = new LinkedHashMap<>();
        List<TensorInfo> tensors = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            if (f.getKey().equals(METADATA_KEY)) {
                parseMetadata(f.getValue(), metadata, file);
            } else {
                tensors.add(parseTensor(f.getKey(), f.getValue(), file));
            }
        }
        tensors.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        long expected = 0;
        TensorInfo previous = null;
        for (TensorInfo t : tensors) {
            if (t.begin() < expected) {
                throw new CheckpointFormatException(file + ": tensor '" + t.name() + "' bytes [" + t.begin() + ", " + t.end()
                        + ") overlap tensor '" + previous.name() + "' [" + previous.begin() + ", " + previous.end() + ")");
            }
            if (t.begin() > expected) {
                throw new CheckpointFormatException(file + ": gap in the data section: bytes [" + expected + ", " + t.begin()
                        + ") before tensor '" + t.name() + "' belong to no tensor");
            }
            if (t.end() > dataSize) {
                throw new CheckpointFormatException(file + ": tensor '" + t.name() + "' ends at data byte " + t.end()
                        + " but the file holds only " + dataSize + " data bytes: truncated file");
            }
            expected = t.end();
            previous = t;
        }
        if (expected != dataSize) {
            throw new CheckpointFormatException(file + ": the tensors cover " + expected + " data bytes but the file holds "
                    + dataSize + ": trailing bytes, not a file this header describes");
        }
        return new Header(file, Collections.unmodifiableList(tensors), Collections.unmodifiableMap(metadata), 8 + n);
    }

    private static void parseMetadata(JsonNode node, Map<String, String> into, String file) throws CheckpointFormatException {
        if (!node.isObject()) throw new CheckpointFormatException(file + ": " + METADATA_KEY + " must be an object of strings");
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> m = it.next();
            if (!m.getValue().isTextual()) {
                throw new CheckpointFormatException(file + ": " + METADATA_KEY + " value for '" + m.getKey() + "' must be a string, got "
                        + m.getValue().getNodeType());
            }
            into.put(m.getKey(), m.getValue().asText());
        }
    }

    private static TensorInfo parseTensor(String name, JsonNode node, String file) throws CheckpointFormatException {
        String where = file + ": tensor '" + name + "'";
        if (!node.isObject()) throw new CheckpointFormatException(where + " must be an object with dtype, shape, data_offsets");
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!key.equals("dtype") && !key.equals("shape") && !key.equals("data_offsets")) {
                throw new CheckpointFormatException(where + " has unexpected field '" + key + "' (allowed: dtype, shape, data_offsets)");
            }
        }
        JsonNode dt = node.get("dtype");
        if (dt == null || !dt.isTextual()) throw new CheckpointFormatException(where + " lacks a string dtype");
        DType dtype;
        try {
            dtype = DType.valueOf(dt.asText());
        } catch (IllegalArgumentException e) {
            throw new CheckpointFormatException(where + " has unknown dtype '" + dt.asText() + "' (known: "
                    + Arrays.toString(DType.values()) + ")");
        }
        JsonNode sh = node.get("shape");
        if (sh == null || !sh.isArray()) throw new CheckpointFormatException(where + " lacks a shape array");
        long[] shape = new long[sh.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = nonNegativeLong(sh.get(i), where + " shape[" + i + "]");
            try {
                numel = Math.multiplyExact(numel, shape[i]);
            } catch (ArithmeticException e) {
                throw new CheckpointFormatException(where + " shape " + sh + " overflows 64 bits");
            }
        }
        JsonNode off = node.get("data_offsets");
        if (off == null || !off.isArray() || off.size() != 2) {
            throw new CheckpointFormatException(where + " needs data_offsets [begin, end]");
        }
        long begin = nonNegativeLong(off.get(0), where + " data_offsets[0]");
        long end = nonNegativeLong(off.get(1), where + " data_offsets[1]");
        if (end < begin) throw new CheckpointFormatException(where + " data_offsets [" + begin + ", " + end + "] end before begin");
        long expectedBytes;
        try {
            expectedBytes = Math.multiplyExact(numel, dtype.bytes);
        } catch (ArithmeticException e) {
            throw new CheckpointFormatException(where + " byte size overflows 64 bits");
        }
        if (end - begin != expectedBytes) {
            throw new CheckpointFormatException(where + " has " + (end - begin) + " data bytes but dtype " + dtype + " and shape "
                    + Arrays.toString(shape) + " need " + expectedBytes);
        }
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    private static long nonNegativeLong(JsonNode n, String what) throws CheckpointFormatException {
        if (n == null || !n.isIntegralNumber() || !n.canConvertToLong() || n.asLong() < 0) {
            throw new CheckpointFormatException(what + " must be a non-negative integer, got " + n);
        }
        return n.asLong();
    }

    /** Reads every tensor of {@code file} as floats (F32, or F16/BF16 widened), in data order. */
    public static Map<String, FloatTensor> readAll(Path file) throws IOException {
        return readSelected(file, name -> true);
    }

    /** Reads the tensors of {@code file} whose names {@code wanted} accepts, as floats, in data order. */
    public static Map<String, FloatTensor> readSelected(Path file, java.util.function.Predicate<String> wanted) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            Header h = readHeader(ch, file.toString());
            Map<String, FloatTensor> out = new LinkedHashMap<>();
            for (TensorInfo t : h.tensors()) {
                if (!wanted.test(t.name())) continue;
                requireFloat(t, h.file());
                if (t.numel() > Integer.MAX_VALUE - 8) {
                    throw new CheckpointFormatException(h.file() + ": tensor '" + t.name() + "' has " + t.numel()
                            + " elements, too many for one Java array; use readInto");
                }
                float[] data = new float[(int) t.numel()];
                readFloats(ch, h, t, 0, FloatBuffer.wrap(data), null);
                out.put(t.name(), new FloatTensor(t.shape(), data));
            }
            return out;
        }
    }

    /**
     * Fills {@code flat} from the tensors named {@code prefix + name} for every entry of
     * {@code layout}. Checks all names, shapes and dtypes before reading anything. Returns the names of
     * file tensors the layout did not use (the caller decides whether extras are an error).
     */
    public static List<String> readInto(Path file, ParameterLayout layout, INDArray flat, String prefix) throws IOException {
        INDArray f = FlatArrays.requireFlatFloat(flat, layout.totalSize(), "destination buffer for " + file);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            Header h = readHeader(ch, file.toString());
            Map<String, TensorInfo> byName = h.byName();
            List<String> missing = new ArrayList<>();
            List<TensorInfo> matched = new ArrayList<>();
            for (ParameterLayout.Entry e : layout.entries()) {
                TensorInfo t = byName.remove(prefix + e.name());
                if (t == null) {
                    missing.add(prefix + e.name());
                    continue;
                }
                if (!Arrays.equals(t.shape(), e.shape())) {
                    throw new CheckpointFormatException(file + ": tensor '" + t.name() + "' has shape " + Arrays.toString(t.shape())
                            + " but the model expects " + Arrays.toString(e.shape()));
                }
                requireFloat(t, h.file());
                matched.add(t);
            }
            if (!missing.isEmpty()) {
                throw new CheckpointFormatException(file + ": " + missing.size() + " tensor(s) the model needs are missing, e.g. "
                        + missing.subList(0, Math.min(10, missing.size())));
            }
            int i = 0;
            for (ParameterLayout.Entry e : layout.entries()) copyTensor(ch, h, matched.get(i++), f, e.offset());
            FlatArrays.markHostWritten(f);
            return new ArrayList<>(byName.keySet());
        }
    }

    /**
     * Reads tensor {@code t} of an open file (its header from {@link #readHeader(FileChannel, String)})
     * into floats {@code [offset, offset + numel)} of the flat buffer {@code flat}.
     */
    public static void readTensor(FileChannel ch, Header h, TensorInfo t, INDArray flat, long offset) throws IOException {
        INDArray f = FlatArrays.requireFlatFloat(flat, "destination buffer for " + h.file());
        requireFloat(t, h.file());
        copyTensor(ch, h, t, f, offset);
        FlatArrays.markHostWritten(f);
    }

    private static void copyTensor(FileChannel ch, Header h, TensorInfo t, INDArray f, long offset) throws IOException {
        long[] done = {0}; // a tensor above 1 GiB arrives in several destination chunks
        try {
            FlatArrays.forEachByteChunk(f, offset, t.numel(), bufferChunkBytes, chunk -> {
                try {
                    readFloats(ch, h, t, done[0], chunk.asFloatBuffer(), chunk);
                    done[0] += chunk.remaining() / Float.BYTES;
                } catch (IOException ex) {
                    throw new UncheckedIOException(ex);
                }
            });
        } catch (UncheckedIOException ex) {
            throw ex.getCause();
        }
    }

    private static void requireFloat(TensorInfo t, String file) throws CheckpointFormatException {
        if (!t.dtype().readableAsFloat()) {
            throw new CheckpointFormatException(file + ": tensor '" + t.name() + "' has dtype " + t.dtype()
                    + "; only F32, F16 and BF16 can be read as floats");
        }
    }

    /**
     * Reads {@code dst.remaining()} floats of tensor {@code t} starting at its element
     * {@code firstElement}. When {@code rawDst} (the same memory as {@code dst}) is given and the
     * tensor is F32, bytes go straight into it without a conversion pass.
     */
    private static void readFloats(FileChannel ch, Header h, TensorInfo t, long firstElement, FloatBuffer dst, ByteBuffer rawDst)
            throws IOException {
        long pos = h.dataStart() + t.begin() + firstElement * t.dtype().bytes;
        if (t.dtype() == DType.F32 && rawDst != null) {
            readFully(ch, rawDst.duplicate(), pos, h.file());
            return;
        }
        ByteBuffer tmp = ByteBuffer.allocate(IO_CHUNK).order(ByteOrder.LITTLE_ENDIAN);
        while (dst.hasRemaining()) {
            int elems = Math.min(dst.remaining(), IO_CHUNK / t.dtype().bytes);
            tmp.clear().limit(elems * t.dtype().bytes);
            readFully(ch, tmp, pos, h.file());
            pos += tmp.limit();
            tmp.flip();
            switch (t.dtype()) {
                case F32 -> dst.put(tmp.asFloatBuffer());
                case F16 -> { for (int i = 0; i < elems; i++) dst.put(halfToFloat(tmp.getShort(i * 2))); }
                case BF16 -> { for (int i = 0; i < elems; i++) dst.put(Float.intBitsToFloat((tmp.getShort(i * 2) & 0xffff) << 16)); }
                default -> throw new IllegalStateException("not a float dtype: " + t.dtype());
            }
        }
    }

    /** IEEE 754 half precision to float (Java 17 has no Float.float16ToFloat). */
    static float halfToFloat(short half) {
        int h = half & 0xffff;
        int sign = (h & 0x8000) << 16;
        int exp = (h >>> 10) & 0x1f;
        int mant = h & 0x3ff;
        if (exp == 0x1f) return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        if (exp == 0) {
            float v = mant * 0x1p-24f; // zero or subnormal: exact in float
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }

    static void readFully(FileChannel ch, ByteBuffer dst, long position, String file) throws IOException {
        long pos = position;
        while (dst.hasRemaining()) {
            int n = ch.read(dst, pos);
            if (n < 0) throw new EOFException(file + ": unexpected end of file at byte " + pos);
            pos += n;
        }
    }
}
