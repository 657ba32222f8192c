package io.mert.data;

import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ResamplerTest {
    private static final Logger LOG = LoggerFactory.getLogger(ResamplerTest.class);

    private static float[] sine(double freq, int rate, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (0.8 * Math.sin(2 * Math.PI * freq * i / rate));
        return x;
    }

    /** SNR of y against the analytic sine at the output rate, ignoring the filter's reach at both ends. */
    private static double snrDb(float[] y, double freq, int rate) {
        int edge = rate / 20;
        double sig = 0, err = 0;
        for (int i = edge; i < y.length - edge; i++) {
            double ref = 0.8 * Math.sin(2 * Math.PI * freq * i / rate);
            sig += ref * ref;
            err += (y[i] - ref) * (y[i] - ref);
        }
        return 10 * Math.log10(sig / err);
    }

    @Test
    void sinesSurviveWithHighSnr() {
        int[][] pairs = {{22050, 24000}, {44100, 24000}, {48000, 24000}, {16000, 24000}, {24000, 22050}};
        for (int[] p : pairs) {
            for (double f : new double[] {110, 1000, 5000}) {
                float[] y = Resampler.resample(sine(f, p[0], p[0]), p[0], p[1]);
                assertEquals((int) Math.ceil((double) p[0] * p[1] / p[0]), y.length);
                double snr = snrDb(y, f, p[1]);
                LOG.info("{} -> {} Hz, {} Hz sine: SNR {} dB", p[0], p[1], f, String.format("%.1f", snr));
                assertTrue(snr >= 60, p[0] + "->" + p[1] + " at " + f + " Hz: SNR " + snr + " dB");
            }
        }
    }

    @Test
    void tonesAboveTheNewNyquistAreRemoved() {
        for (double f : new double[] {12500, 15000, 20000}) {
            float[] x = sine(f, 44100, 44100);
            float[] y = Resampler.resample(x, 44100, 24000);
            int edge = 2400;
            double in = 0, out = 0;
            for (int i = edge; i < y.length - edge; i++) out += y[i] * (double) y[i];
            for (int i = 2 * edge; i < x.length - 2 * edge; i++) in += x[i] * (double) x[i];
            double attenuation = 10 * Math.log10((in / (x.length - 4 * edge)) / (out / (y.length - 2 * edge)));
            LOG.info("44100 -> 24000, {} Hz tone attenuated by {} dB", f, String.format("%.1f", attenuation));
            assertTrue(attenuation > 70, f + " Hz: only " + attenuation + " dB");
        }
    }

    @Test
    void identityAndShortInputs() {
        float[] x = {0.1f, -0.2f, 0.3f};
        assertEquals(3, Resampler.resample(x, 24000, 24000).length);
        assertEquals(0, Resampler.resample(new float[0], 22050, 24000).length);
        assertEquals(2, Resampler.resample(new float[] {1f}, 12000, 24000).length);
    }
}
