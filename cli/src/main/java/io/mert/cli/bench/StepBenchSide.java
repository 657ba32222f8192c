package io.mert.cli.bench;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.Arrays;

/** One side's figures from {@code mert bench step}: milliseconds per step and peak memory. */
public record StepBenchSide(String name, String waitPolicy, double[] stepMs, double[] computeMs, double[] updateMs,
                            long peakRssBytes, long peakHeapBytes, double firstLoss, String detail, JsonNode profile) {

    static StepBenchSide fromJson(String name, JsonNode o, String waitPolicy, String detail) {
        return new StepBenchSide(name, waitPolicy, doubles(o.get("step_ms")), doubles(o.get("compute_ms")), doubles(o.get("update_ms")),
                o.path("peak_rss_bytes").asLong(-1), o.path("peak_heap_bytes").asLong(-1),
                o.path("loss0").asDouble(Double.NaN), detail, o.get("profile"));
    }

    private static double[] doubles(JsonNode a) {
        if (a == null || !a.isArray()) return new double[0];
        double[] d = new double[a.size()];
        for (int i = 0; i < d.length; i++) d[i] = a.get(i).asDouble();
        return d;
    }

    public double medianStepMs() {
        return median(stepMs);
    }

    public static double median(double[] v) {
        if (v.length == 0) return Double.NaN;
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }
}
