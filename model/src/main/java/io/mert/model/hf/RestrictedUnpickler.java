package io.mert.model.hf;

import io.mert.model.checkpoint.CheckpointFormatException;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads the pickle inside a {@code torch.save} state dict without executing anything. Only the
 * opcodes torch's pickler emits for a dict of tensors are known, and a global is accepted only when
 * it is on a fixed allow-list ({@code collections.OrderedDict}, {@code torch._utils._rebuild_tensor_v2},
 * {@code torch._utils._rebuild_parameter} and the float storage types); every other global, opcode or
 * call is refused with the offset and name. "Calls" build plain Java values: a {@link LinkedHashMap},
 * a {@link TensorRef}. Tensor bytes are not touched here; {@link TorchCheckpointFile} reads them.
 */
final class RestrictedUnpickler {

    /** Sizes no state dict pickle reaches; they bound what a hostile file can make us allocate. */
    static final int MAX_STRING_BYTES = 1 << 20;
    static final int MAX_STACK = 1 << 20;
    static final int MAX_MEMO = 1 << 22;
    static final int MAX_DIMS = 16;

    /** The float storage types torch pickles as {@code torch.<Name>Storage}. */
    enum StorageType {
        FLOAT("FloatStorage", 4), HALF("HalfStorage", 2), BFLOAT16("BFloat16Storage", 2), DOUBLE("DoubleStorage", 8);

        final String pickleName;
        final int bytes;

        StorageType(String pickleName, int bytes) {
            this.pickleName = pickleName;
            this.bytes = bytes;
        }
    }

    /** The only callables a pickle may invoke. */
    private enum Callable { ORDERED_DICT, REBUILD_TENSOR_V2, REBUILD_PARAMETER }

    /** An allow-listed global: a callable or a storage type. */
    private record Global(String qualifiedName, Callable callable, StorageType storage) {}

    /** A tuple (kept apart from lists so that argument shapes can be checked). */
    private record Tuple(List<Object> items) {}

    /** A persistent-id reference to storage {@code key} of the archive. */
    record StorageRef(StorageType type, String key, String location, long numel) {}

    /** A tensor: a strided view of a storage (offsets and strides in elements). */
    record TensorRef(StorageRef storage, long offset, long[] shape, long[] stride) {
        long numel() {
            long n = 1;
            for (long d : shape) n *= d;
            return n;
        }
    }

    private static final Map<String, Global> ALLOWED = new HashMap<>();

    static {
        allow("collections.OrderedDict", Callable.ORDERED_DICT, null);
        allow("torch._utils._rebuild_tensor_v2", Callable.REBUILD_TENSOR_V2, null);
        allow("torch._utils._rebuild_parameter", Callable.REBUILD_PARAMETER, null);
        for (StorageType t : StorageType.values()) allow("torch." + t.pickleName, null, t);
    }

    private static void allow(String name, Callable c, StorageType s) {
        ALLOWED.put(name, new Global(name, c, s));
    }

    private static final Object MARK = new Object();

    private final byte[] data;
    private final String source;
    private int pos;
    private final List<Object> stack = new ArrayList<>();
    private final List<Integer> marks = new ArrayList<>();
    private final Map<Long, Object> memo = new HashMap<>();
    private final Map<String, StorageRef> storages = new HashMap<>();

    private RestrictedUnpickler(byte[] data, String source) {
        this.data = data;
        this.source = source;
    }

    /**
     * Parses a state-dict pickle: the top-level object must be a (possibly ordered) dict from names
     * to tensors. {@code source} names the file in errors.
     */
    static Map<String, TensorRef> stateDict(byte[] pickle, String source) throws CheckpointFormatException {
        Object top = new RestrictedUnpickler(pickle, source).run();
        if (!(top instanceof Map<?, ?> m)) {
            throw new CheckpointFormatException(source + ": the pickle holds " + describe(top) + ", not a state dict (a dict of tensors)");
        }
        Map<String, TensorRef> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : m.entrySet()) {
            if (!(e.getKey() instanceof String k)) {
                throw new CheckpointFormatException(source + ": state dict key " + describe(e.getKey()) + " is not a string");
            }
            if (!(e.getValue() instanceof TensorRef t)) {
                throw new CheckpointFormatException(source + ": state dict entry '" + k + "' is " + describe(e.getValue())
                        + ", not a tensor (a nested checkpoint such as {'model': ...}? save the state dict itself)");
            }
            out.put(k, t);
        }
        return out;
    }

    private Object run() throws CheckpointFormatException {
        while (true) {
            if (pos >= data.length) throw fail("pickle ends without STOP");
            int at = pos;
            int op = data[pos++] & 0xff;
            switch (op) {
                case 0x80 -> { // PROTO
                    int v = u8();
                    if (v < 2 || v > 5) throw fail("pickle protocol " + v + " is not supported (2 to 5)");
                }
                case 0x95 -> skip(8); // FRAME: a length hint only
                case '.' -> { // STOP
                    if (stack.size() != 1 || !marks.isEmpty()) throw fail("STOP with " + stack.size() + " values on the stack");
                    return stack.get(0);
                }
                case '(' -> { // MARK
                    marks.add(stack.size());
                    push(MARK);
                }
                case '}' -> push(new LinkedHashMap<>());
                case ']' -> push(new ArrayList<>());
                case ')' -> push(new Tuple(List.of()));
                case 't' -> push(new Tuple(popMark()));
                case 0x85 -> push(new Tuple(popN(1)));
                case 0x86 -> push(new Tuple(popN(2)));
                case 0x87 -> push(new Tuple(popN(3)));
                case 'l' -> push(new ArrayList<>(popMark()));
                case 'd' -> {
                    List<Object> items = popMark();
                    Map<Object, Object> m = new LinkedHashMap<>();
                    putPairs(m, items);
                    push(m);
                }
                case 'a' -> {
                    Object v = pop();
                    list(peek()).add(v);
                }
                case 'e' -> {
                    List<Object> items = popMark();
                    list(peek()).addAll(items);
                }
                case 's' -> {
                    Object v = pop();
                    Object k = pop();
                    putPairs(dict(peek()), List.of(k, v));
                }
                case 'u' -> {
                    List<Object> items = popMark();
                    putPairs(dict(peek()), items);
                }
                case 'J' -> push((long) i32());
                case 'K' -> push((long) u8());
                case 'M' -> push((long) (u8() | (u8() << 8)));
                case 0x8a -> push(long1());
                case 'G' -> push(Double.longBitsToDouble(be64()));
                case 'N' -> push(null);
                case 0x88 -> push(Boolean.TRUE);
                case 0x89 -> push(Boolean.FALSE);
                case 'X' -> push(utf8(i32()));
                case 0x8c -> push(utf8(u8()));
                case 0x8d -> {
                    long n = be64Le();
                    if (n < 0 || n > MAX_STRING_BYTES) throw fail("string of " + n + " bytes exceeds " + MAX_STRING_BYTES);
                    push(utf8((int) n));
                }
                case 'q' -> memo((long) u8());
                case 'r' -> memo(i32() & 0xffffffffL);
                case 0x94 -> memo((long) memo.size());
                case 'h' -> push(recall(u8()));
                case 'j' -> push(recall(i32() & 0xffffffffL));
                case '0' -> pop();
                case '2' -> push(peek());
                case 'c' -> push(global(line() + "." + line(), at));
                case 0x93 -> { // STACK_GLOBAL
                    Object name = pop();
                    Object module = pop();
                    if (!(module instanceof String mod) || !(name instanceof String n)) throw fail("STACK_GLOBAL needs two strings");
                    push(global(mod + "." + n, at));
                }
                case 'Q' -> push(persistent(pop()));
                case 'R' -> {
                    Object args = pop();
                    Object fn = pop();
                    push(call(fn, args));
                }
                case 'b' -> { // BUILD: only the _metadata that nn.Module.state_dict attaches to an OrderedDict
                    Object state = pop();
                    if (!(peek() instanceof Map<?, ?>) || !(state instanceof Map<?, ?> || state instanceof Tuple)) {
                        throw fail("BUILD on " + describe(peek()) + " is not allowed (only a state dict's attributes)");
                    }
                }
                default -> throw new CheckpointFormatException(String.format(
                        "%s: pickle opcode 0x%02x ('%s') at byte %d is not allowed in a state dict; refusing to load it",
                        source, op, op >= 0x20 && op < 0x7f ? Character.toString(op) : "?", at));
            }
        }
    }

    private Global global(String qualified, int at) throws CheckpointFormatException {
        Global g = ALLOWED.get(qualified);
        if (g == null) {
            throw new CheckpointFormatException(source + ": the pickle references the global '" + qualified + "' (byte " + at
                    + "), which is not on the allow-list " + ALLOWED.keySet().stream().sorted().toList()
                    + "; a state dict needs nothing else, so this file is refused (it could run code in Python)");
        }
        return g;
    }

    private Object call(Object fn, Object args) throws CheckpointFormatException {
        if (!(fn instanceof Global g) || g.callable() == null) {
            throw fail("REDUCE on " + describe(fn) + " is not allowed: only " + Arrays.toString(Callable.values()) + " may be called");
        }
        if (!(args instanceof Tuple t)) throw fail("REDUCE arguments for " + g.qualifiedName() + " are not a tuple");
        List<Object> a = t.items();
        switch (g.callable()) {
            case ORDERED_DICT -> {
                if (!a.isEmpty()) throw fail("collections.OrderedDict called with arguments; torch.save passes none");
                return new LinkedHashMap<>();
            }
            case REBUILD_PARAMETER -> {
                if (a.size() != 3 || !(a.get(0) instanceof TensorRef tensor)) {
                    throw fail("torch._utils._rebuild_parameter needs (tensor, requires_grad, hooks), got " + a.size() + " arguments");
                }
                requireNoHooks(a.get(2));
                return tensor;
            }
            case REBUILD_TENSOR_V2 -> {
                if (a.size() != 6 && a.size() != 7) {
                    throw fail("torch._utils._rebuild_tensor_v2 needs 6 or 7 arguments, got " + a.size());
                }
                if (!(a.get(0) instanceof StorageRef storage)) throw fail("_rebuild_tensor_v2: first argument is not a storage");
                long offset = nonNegative(a.get(1), "storage offset");
                long[] shape = longs(a.get(2), "size");
                long[] stride = longs(a.get(3), "stride");
                if (shape.length != stride.length) throw fail("_rebuild_tensor_v2: size and stride differ in rank");
                requireNoHooks(a.get(5));
                return new TensorRef(storage, offset, shape, stride);
            }
            default -> throw new IllegalStateException();
        }
    }

    private void requireNoHooks(Object hooks) throws CheckpointFormatException {
        if (!(hooks instanceof Map<?, ?> m) || !m.isEmpty()) throw fail("tensor with backward hooks: not a plain state dict");
    }

    private StorageRef persistent(Object pid) throws CheckpointFormatException {
        if (!(pid instanceof Tuple t) || t.items().size() != 5 || !"storage".equals(t.items().get(0))) {
            throw fail("persistent id " + describe(pid) + " is not ('storage', type, key, location, numel)");
        }
        List<Object> a = t.items();
        if (!(a.get(1) instanceof Global g) || g.storage() == null) {
            throw fail("storage of type " + describe(a.get(1)) + ": only float32, float16, bfloat16 and float64 tensors can be read");
        }
        if (!(a.get(2) instanceof String key) || !key.matches("[0-9A-Za-z_]{1,64}")) throw fail("storage key " + describe(a.get(2)) + " is malformed");
        String location = a.get(3) instanceof String s ? s : "?";
        long numel = nonNegative(a.get(4), "storage size");
        StorageRef ref = new StorageRef(g.storage(), key, location, numel);
        StorageRef previous = storages.putIfAbsent(key, ref);
        if (previous != null && (previous.type() != ref.type() || previous.numel() != ref.numel())) {
            throw fail("storage '" + key + "' is declared twice with different types or sizes");
        }
        return previous != null ? previous : ref;
    }

    // ---------------------------------------------------------------- stack and memo

    private void push(Object o) throws CheckpointFormatException {
        if (stack.size() >= MAX_STACK) throw fail("stack deeper than " + MAX_STACK);
        stack.add(o);
    }

    private Object pop() throws CheckpointFormatException {
        if (stack.isEmpty()) throw fail("stack underflow");
        Object o = stack.remove(stack.size() - 1);
        if (o == MARK) throw fail("unexpected MARK");
        return o;
    }

    private Object peek() throws CheckpointFormatException {
        if (stack.isEmpty() || stack.get(stack.size() - 1) == MARK) throw fail("stack underflow");
        return stack.get(stack.size() - 1);
    }

    private List<Object> popN(int n) throws CheckpointFormatException {
        Object[] out = new Object[n];
        for (int i = n - 1; i >= 0; i--) out[i] = pop();
        return Arrays.asList(out);
    }

    private List<Object> popMark() throws CheckpointFormatException {
        if (marks.isEmpty()) throw fail("no MARK to pop to");
        int m = marks.remove(marks.size() - 1);
        List<Object> items = new ArrayList<>(stack.subList(m + 1, stack.size()));
        if (items.contains(MARK)) throw fail("nested MARK");
        stack.subList(m, stack.size()).clear();
        return items;
    }

    private void memo(long index) throws CheckpointFormatException {
        if (memo.size() >= MAX_MEMO) throw fail("more than " + MAX_MEMO + " memo entries");
        memo.put(index, peek());
    }

    private Object recall(long index) throws CheckpointFormatException {
        if (!memo.containsKey(index)) throw fail("memo entry " + index + " was never stored");
        return memo.get(index);
    }

    @SuppressWarnings("unchecked")
    private List<Object> list(Object o) throws CheckpointFormatException {
        if (o instanceof List<?> l && !(o instanceof Tuple)) return (List<Object>) l;
        throw fail("APPEND to " + describe(o));
    }

    @SuppressWarnings("unchecked")
    private Map<Object, Object> dict(Object o) throws CheckpointFormatException {
        if (o instanceof Map<?, ?> m) return (Map<Object, Object>) m;
        throw fail("SETITEM on " + describe(o));
    }

    private void putPairs(Map<Object, Object> m, List<Object> items) throws CheckpointFormatException {
        if (items.size() % 2 != 0) throw fail("odd number of dict items");
        for (int i = 0; i < items.size(); i += 2) {
            Object k = items.get(i);
            if (k != null && !(k instanceof String) && !(k instanceof Long)) throw fail("dict key " + describe(k) + " is not a string or int");
            m.put(k, items.get(i + 1));
        }
    }

    // ---------------------------------------------------------------- bytes

    private void need(long n) throws CheckpointFormatException {
        if (n < 0 || pos + n > data.length) throw fail("truncated pickle (needs " + n + " more bytes at byte " + pos + ")");
    }

    private void skip(int n) throws CheckpointFormatException {
        need(n);
        pos += n;
    }

    private int u8() throws CheckpointFormatException {
        need(1);
        return data[pos++] & 0xff;
    }

    private int i32() throws CheckpointFormatException {
        need(4);
        int v = (data[pos] & 0xff) | (data[pos + 1] & 0xff) << 8 | (data[pos + 2] & 0xff) << 16 | (data[pos + 3] & 0xff) << 24;
        pos += 4;
        return v;
    }

    private long be64Le() throws CheckpointFormatException {
        need(8);
        long v = 0;
        for (int i = 7; i >= 0; i--) v = (v << 8) | (data[pos + i] & 0xff);
        pos += 8;
        return v;
    }

    private long be64() throws CheckpointFormatException {
        need(8);
        long v = 0;
        for (int i = 0; i < 8; i++) v = (v << 8) | (data[pos + i] & 0xff);
        pos += 8;
        return v;
    }

    /** LONG1: n little-endian two's-complement bytes; at most 8 fit a long. */
    private long long1() throws CheckpointFormatException {
        int n = u8();
        if (n > 8) throw fail("integer of " + n + " bytes does not fit 64 bits");
        need(n);
        long v = 0;
        for (int i = n - 1; i >= 0; i--) v = (v << 8) | (data[pos + i] & 0xff);
        if (n > 0 && n < 8 && (data[pos + n - 1] & 0x80) != 0) v -= 1L << (8 * n);
        pos += n;
        return v;
    }

    private String utf8(int n) throws CheckpointFormatException {
        if (n < 0 || n > MAX_STRING_BYTES) throw fail("string of " + (n & 0xffffffffL) + " bytes exceeds " + MAX_STRING_BYTES);
        need(n);
        String s = new String(data, pos, n, StandardCharsets.UTF_8);
        pos += n;
        return s;
    }

    /** A newline-terminated ASCII line (GLOBAL's module and name). */
    private String line() throws CheckpointFormatException {
        int start = pos;
        while (pos < data.length && data[pos] != '\n') {
            if (pos - start > 256) throw fail("GLOBAL name longer than 256 bytes");
            pos++;
        }
        if (pos >= data.length) throw fail("unterminated GLOBAL name");
        String s = new String(data, start, pos - start, StandardCharsets.US_ASCII);
        pos++;
        return s;
    }

    private long nonNegative(Object o, String what) throws CheckpointFormatException {
        if (!(o instanceof Long l) || l < 0) throw fail(what + " " + describe(o) + " is not a non-negative integer");
        return l;
    }

    private long[] longs(Object o, String what) throws CheckpointFormatException {
        if (!(o instanceof Tuple t)) throw fail(what + " " + describe(o) + " is not a tuple");
        if (t.items().size() > MAX_DIMS) throw fail(what + " has " + t.items().size() + " dimensions (at most " + MAX_DIMS + ")");
        long[] out = new long[t.items().size()];
        for (int i = 0; i < out.length; i++) out[i] = nonNegative(t.items().get(i), what + "[" + i + "]");
        return out;
    }

    private CheckpointFormatException fail(String msg) {
        return new CheckpointFormatException(source + ": " + msg + " (pickle byte " + pos + "); refusing to load it");
    }

    private static String describe(Object o) {
        if (o == null) return "None";
        if (o instanceof Global g) return "the global " + g.qualifiedName();
        if (o instanceof String s) return "'" + (s.length() > 40 ? s.substring(0, 40) + "..." : s) + "'";
        return o.getClass().getSimpleName();
    }
}
