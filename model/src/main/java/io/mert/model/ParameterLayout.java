package io.mert.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where each named parameter lives inside the one flat float buffer that holds them all. Names are
 * HuggingFace MERT key names (for example {@code encoder.layers.0.attention.q_proj.weight}), so a
 * checkpoint is the flat buffer cut along this layout. Gradients and optimizer moments use the same layout.
 */
public final class ParameterLayout {

    /** One tensor: its name, shape (row-major, as HF stores it) and offset in floats. */
    public record Entry(String name, long[] shape, long offset) {
        public long size() {
            long n = 1;
            for (long d : shape) n *= d;
            return n;
        }

        @Override
        public String toString() {
            return name + Arrays.toString(shape) + "@" + offset;
        }
    }

    private final List<Entry> entries;
    private final Map<String, Entry> byName;
    private final long totalSize;

    private ParameterLayout(List<Entry> entries, long totalSize) {
        this.entries = Collections.unmodifiableList(entries);
        this.totalSize = totalSize;
        Map<String, Entry> m = new LinkedHashMap<>();
        for (Entry e : entries) {
            if (m.put(e.name(), e) != null) throw new IllegalArgumentException("duplicate parameter " + e.name());
        }
        this.byName = Collections.unmodifiableMap(m);
    }

    public List<Entry> entries() {
        return entries;
    }

    public Entry get(String name) {
        Entry e = byName.get(name);
        if (e == null) throw new IllegalArgumentException("no parameter named " + name);
        return e;
    }

    public boolean contains(String name) {
        return byName.containsKey(name);
    }

    /** Total number of floats. */
    public long totalSize() {
        return totalSize;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Adds tensors in order; each starts where the previous one ended. */
    public static final class Builder {
        private final List<Entry> entries = new ArrayList<>();
        private long offset;

        public Builder add(String name, long... shape) {
            Entry e = new Entry(name, shape.clone(), offset);
            entries.add(e);
            offset += e.size();
            return this;
        }

        public ParameterLayout build() {
            return new ParameterLayout(new ArrayList<>(entries), offset);
        }
    }
}
