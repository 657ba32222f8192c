package io.mert.data.audio;

import java.net.URISyntaxException;
import java.nio.file.Path;

/** Locations of the committed reference files and the signal comparisons the reference tests share. */
final class Fixtures {
    private Fixtures() {}

    static Path resource(String name) {
        try {
            var url = Fixtures.class.getResource("/" + name);
            if (url == null) throw new IllegalStateException("missing test resource " + name + " (see tools/reference/make_audio_fixtures.py)");
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * SNR in dB of {@code x} against {@code ref}, with x[i] compared to ref[i + lag], over every index
     * both have, all channels pooled.
     */
    static double snrDb(float[][] ref, float[][] x, int lag) {
        double sig = 0, err = 0;
        for (int c = 0; c < ref.length; c++) {
            for (int i = Math.max(0, -lag); i < x[c].length && i + lag < ref[c].length; i++) {
                double r = ref[c][i + lag], d = r - x[c][i];
                sig += r * r;
                err += d * d;
            }
        }
        return 10 * Math.log10(sig / err);
    }

    /** The lag in [-maxLag, maxLag] with the largest cross-correlation sum_i x[i] ref[i + lag] (channel 0). */
    static int bestLag(float[] ref, float[] x, int maxLag) {
        int best = 0;
        double bestV = Double.NEGATIVE_INFINITY;
        for (int lag = -maxLag; lag <= maxLag; lag++) {
            double v = 0;
            for (int i = Math.max(0, -lag); i < x.length && i + lag < ref.length; i++) v += x[i] * (double) ref[i + lag];
            if (v > bestV) { bestV = v; best = lag; }
        }
        return best;
    }
}
