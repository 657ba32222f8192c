package io.mert.telemetry;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.DoubleAdder;
import java.util.regex.Pattern;

/**
 * Counters, gauges and histograms, scraped in Prometheus' text exposition format 0.0.4. Small and
 * thread-safe: values are updated by actor callbacks and read by the HTTP server.
 */
public final class MetricsRegistry {

    private static final Pattern NAME = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");
    private static final Pattern LABEL = Pattern.compile("[a-zA-Z_][a-zA-Z0-9_]*");

    private final Map<String, Family> families = new LinkedHashMap<>();

    private abstract static class Family {
        final String name, help, type;
        final String[] labelNames;

        Family(String name, String help, String type, String[] labelNames) {
            if (!NAME.matcher(name).matches()) throw new IllegalArgumentException("invalid metric name '" + name + "'");
            for (String l : labelNames) {
                if (!LABEL.matcher(l).matches() || l.startsWith("__")) throw new IllegalArgumentException("invalid label name '" + l + "'");
            }
            this.name = name;
            this.help = help;
            this.type = type;
            this.labelNames = labelNames.clone();
        }

        abstract void write(StringBuilder out);

        String labels(List<String> values, String extraName, String extraValue) {
            if (labelNames.length == 0 && extraName == null) return "";
            StringBuilder b = new StringBuilder("{");
            for (int i = 0; i < labelNames.length; i++) {
                if (i > 0) b.append(',');
                b.append(labelNames[i]).append("=\"").append(escape(values.get(i))).append('"');
            }
            if (extraName != null) {
                if (labelNames.length > 0) b.append(',');
                b.append(extraName).append("=\"").append(extraValue).append('"');
            }
            return b.append('}').toString();
        }

        List<String> key(String... values) {
            if (values.length != labelNames.length) {
                throw new IllegalArgumentException(name + " takes labels " + Arrays.toString(labelNames) + ", got " + values.length + " values");
            }
            return List.of(values);
        }
    }

    /** A value that only goes up (events, bytes). */
    public static final class Counter extends Family {
        private final Map<List<String>, DoubleAdder> values = new ConcurrentHashMap<>();

        private Counter(String name, String help, String[] labels) {
            super(name, help, "counter", labels);
        }

        public void inc(String... labelValues) {
            add(1, labelValues);
        }

        public void add(double amount, String... labelValues) {
            if (!(amount >= 0)) throw new IllegalArgumentException(name + ": a counter cannot go down (" + amount + ")");
            values.computeIfAbsent(key(labelValues), k -> new DoubleAdder()).add(amount);
        }

        public double get(String... labelValues) {
            DoubleAdder a = values.get(key(labelValues));
            return a == null ? 0 : a.sum();
        }

        @Override
        void write(StringBuilder out) {
            if (labelNames.length == 0 && values.isEmpty()) values.put(List.of(), new DoubleAdder());
            values.forEach((k, v) -> out.append(name).append(labels(k, null, null)).append(' ').append(number(v.sum())).append('\n'));
        }
    }

    /** A value that is set (loss, world size). */
    public static final class Gauge extends Family {
        private final Map<List<String>, Double> values = new ConcurrentHashMap<>();

        private Gauge(String name, String help, String[] labels) {
            super(name, help, "gauge", labels);
        }

        public void set(double value, String... labelValues) {
            values.put(key(labelValues), value);
        }

        public double get(String... labelValues) {
            return values.getOrDefault(key(labelValues), Double.NaN);
        }

        @Override
        void write(StringBuilder out) {
            values.forEach((k, v) -> out.append(name).append(labels(k, null, null)).append(' ').append(number(v)).append('\n'));
        }
    }

    /** Observations counted into cumulative buckets, with their sum and count (step times). */
    public static final class Histogram extends Family {
        private final double[] bounds;
        private final Map<List<String>, double[]> values = new ConcurrentHashMap<>(); // per bucket, then sum, count

        private Histogram(String name, String help, double[] bounds, String[] labels) {
            super(name, help, "histogram", labels);
            for (int i = 1; i < bounds.length; i++) {
                if (!(bounds[i] > bounds[i - 1])) throw new IllegalArgumentException(name + ": bucket bounds must increase");
            }
            this.bounds = bounds.clone();
        }

        public void observe(double v, String... labelValues) {
            double[] a = values.computeIfAbsent(key(labelValues), k -> new double[bounds.length + 2]);
            synchronized (a) {
                for (int i = 0; i < bounds.length; i++) if (v <= bounds[i]) a[i]++;
                a[bounds.length] += v;
                a[bounds.length + 1]++;
            }
        }

        @Override
        void write(StringBuilder out) {
            values.forEach((k, a) -> {
                synchronized (a) {
                    for (int i = 0; i < bounds.length; i++) {
                        out.append(name).append("_bucket").append(labels(k, "le", number(bounds[i]))).append(' ').append(number(a[i])).append('\n');
                    }
                    out.append(name).append("_bucket").append(labels(k, "le", "+Inf")).append(' ').append(number(a[bounds.length + 1])).append('\n');
                    out.append(name).append("_sum").append(labels(k, null, null)).append(' ').append(number(a[bounds.length])).append('\n');
                    out.append(name).append("_count").append(labels(k, null, null)).append(' ').append(number(a[bounds.length + 1])).append('\n');
                }
            });
        }
    }

    public synchronized Counter counter(String name, String help, String... labelNames) {
        return register(new Counter(name, help, labelNames));
    }

    public synchronized Gauge gauge(String name, String help, String... labelNames) {
        return register(new Gauge(name, help, labelNames));
    }

    public synchronized Histogram histogram(String name, String help, double[] bounds, String... labelNames) {
        return register(new Histogram(name, help, bounds, labelNames));
    }

    private <F extends Family> F register(F f) {
        if (families.containsKey(f.name)) throw new IllegalArgumentException("metric " + f.name + " is registered twice");
        families.put(f.name, f);
        return f;
    }

    /** The text exposition format: HELP and TYPE lines, then one line per sample. */
    public String scrape() {
        List<Family> all;
        synchronized (this) {
            all = new ArrayList<>(families.values());
        }
        StringBuilder out = new StringBuilder();
        for (Family f : all) {
            out.append("# HELP ").append(f.name).append(' ').append(f.help.replace("\\", "\\\\").replace("\n", "\\n")).append('\n');
            out.append("# TYPE ").append(f.name).append(' ').append(f.type).append('\n');
            f.write(out);
        }
        return out.toString();
    }

    static String escape(String v) {
        return v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }

    static String number(double v) {
        if (Double.isNaN(v)) return "NaN";
        if (Double.isInfinite(v)) return v > 0 ? "+Inf" : "-Inf";
        if (v == Math.rint(v) && Math.abs(v) < 1e15) return Long.toString((long) v);
        return Double.toString(v); // shortest round-trip form; Prometheus reads Go float syntax, E notation included
    }
}
