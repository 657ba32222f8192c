package io.mert.model.features;

import io.mert.model.MertConfig;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

class MfccTest {
    private static final Mfcc MFCC = Mfcc.mert();

    /** Kaldi MFCC of one 600-sample window written out directly: naive DFT, explicit mel triangles, DCT sum. */
    private static double[] referenceCepstra(double[] win) {
        int n = win.length;
        double mean = 0;
        for (double v : win) mean += v;
        mean /= n;
        double[] x = new double[n];
        for (int i = 0; i < n; i++) x[i] = win[i] - mean;
        double[] y = new double[n];
        for (int i = 0; i < n; i++) y[i] = x[i] - 0.97 * (i == 0 ? x[0] : x[i - 1]);
        for (int i = 0; i < n; i++) y[i] *= Math.pow(0.5 - 0.5 * Math.cos(2 * Math.PI * i / (n - 1)), 0.85);
        int nfft = 1024;
        double[] power = new double[nfft / 2];
        for (int k = 0; k < nfft / 2; k++) {
            double re = 0, im = 0;
            for (int i = 0; i < n; i++) {
                re += y[i] * Math.cos(2 * Math.PI * k * i / nfft);
                im -= y[i] * Math.sin(2 * Math.PI * k * i / nfft);
            }
            power[k] = re * re + im * im;
        }
        double lo = 1127 * Math.log(1 + 20 / 700.0), hi = 1127 * Math.log(1 + 12000 / 700.0);
        double step = (hi - lo) / 24;
        double[] logMel = new double[23];
        for (int b = 0; b < 23; b++) {
            double e = 0;
            for (int k = 0; k < nfft / 2; k++) {
                double m = 1127 * Math.log(1 + k * 24000.0 / nfft / 700.0);
                double l = lo + b * step, c = l + step, r = c + step;
                double w = m <= l || m >= r ? 0 : m <= c ? (m - l) / step : (r - m) / step;
                e += w * power[k];
            }
            logMel[b] = Math.log(Math.max(e, 1.1920928955078125e-7));
        }
        double[] c = new double[13];
        for (int k = 0; k < 13; k++) {
            double s = 0;
            for (int b = 0; b < 23; b++) s += logMel[b] * Math.cos(Math.PI * k * (2 * b + 1) / 46.0);
            s *= k == 0 ? Math.sqrt(1 / 23.0) : Math.sqrt(2 / 23.0);
            c[k] = s * (1 + 11 * Math.sin(Math.PI * k / 22));
        }
        return c;
    }

    @Test
    void cepstraMatchDirectEvaluation() {
        Random rnd = new Random(3);
        float[] wave = new float[24000];
        for (int i = 0; i < wave.length; i++)
            wave[i] = (float) (0.4 * Math.sin(2 * Math.PI * 440 * i / 24000.0) + 0.05 * rnd.nextGaussian());
        float[] feats = MFCC.features(wave);
        int frames = MFCC.frames(wave.length);
        for (int t : new int[] {0, 1, 30, frames - 1}) {
            double[] win = new double[600];
            for (int i = 0; i < 600; i++) {
                int s = t * 320 + 200 - 300 + i;
                if (s < 0) s = -s - 1;
                if (s >= wave.length) s = 2 * wave.length - 1 - s;
                win[i] = wave[s];
            }
            double[] ref = referenceCepstra(win);
            for (int k = 0; k < 13; k++)
                assertEquals(ref[k], feats[t * 39 + k], 1e-3 * Math.max(1, Math.abs(ref[k])), "frame " + t + " c" + k);
        }
    }

    @Test
    void deltasOfARampAreOneInsideAndReplicateAtEdges() {
        double[][] ramp = new double[12][1];
        for (int t = 0; t < 12; t++) ramp[t][0] = t;
        double[][] d = Mfcc.deltas(ramp);
        for (int t = 2; t < 10; t++) assertEquals(1.0, d[t][0], 1e-12);
        // t = 0: (1*(1-0) + 2*(2-0)) / 10
        assertEquals(0.5, d[0][0], 1e-12);
        assertEquals(0.5, d[11][0], 1e-12);
        double[][] dd = Mfcc.deltas(d);
        assertEquals(0.0, dd[5][0], 1e-12);
        assertEquals(0.0, dd[6][0], 1e-12);
    }

    @Test
    void featureLayoutAndFrameCountMatchTheModel() {
        MertConfig config = MertConfig.mert95M();
        assertEquals(0, MFCC.frames(399));
        for (int n : new int[] {400, 719, 720, 24000, 120000, 120001}) {
            assertEquals(config.framesFor(n), MFCC.frames(n), "samples " + n);
        }
        float[] wave = new float[24000];
        Random rnd = new Random(1);
        for (int i = 0; i < wave.length; i++) wave[i] = (float) rnd.nextGaussian();
        float[] f = MFCC.features(wave);
        assertEquals(MFCC.frames(24000) * 39, f.length);
        // delta block equals the regression formula applied to the cepstra block
        int t = 10;
        for (int k = 0; k < 13; k++) {
            double s = 0;
            for (int n = 1; n <= 2; n++) s += n * (f[(t + n) * 39 + k] - f[(t - n) * 39 + k]);
            assertEquals(s / 10, f[t * 39 + 13 + k], 1e-4);
        }
    }
}
