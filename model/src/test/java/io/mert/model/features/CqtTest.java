package io.mert.model.features;

import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CqtTest {
    private static final Logger LOG = LoggerFactory.getLogger(CqtTest.class);
    private static final Cqt CQT = Cqt.mert();

    /**
     * nnAudio's CQT1992v2 written out literally in float64: kernels of length ceil(Q sr / f) placed in a
     * buffer of fftLen = 2^ceil(log2(max length)) at nnAudio's start index, L1-normalised, input padded
     * by fftLen/2 zeros on both sides, strided correlation, times sqrt(length), magnitude.
     */
    static final class Reference {
        final int bins = 336;
        final int fftLen;
        final double[][] kr;
        final double[][] ki;
        final int[] start;
        final int[] len;

        Reference() {
            double q = 1.0 / (Math.pow(2.0, 1.0 / 48) - 1.0);
            len = new int[bins];
            int max = 0;
            for (int k = 0; k < bins; k++) {
                double f = 32.7 * Math.pow(2.0, k / 48.0);
                len[k] = (int) Math.ceil(q * 24000 / f);
                max = Math.max(max, len[k]);
            }
            fftLen = 1 << (int) Math.ceil(Math.log(max) / Math.log(2));
            kr = new double[bins][];
            ki = new double[bins][];
            start = new int[bins];
            for (int k = 0; k < bins; k++) {
                double f = 32.7 * Math.pow(2.0, k / 48.0);
                int l = len[k];
                start[k] = (int) Math.ceil(fftLen / 2.0 - l / 2.0) - (l % 2 == 1 ? 1 : 0);
                kr[k] = new double[l];
                ki[k] = new double[l];
                double l1 = 0;
                int first = (int) Math.floor(-l / 2.0); // np.r_[-l//2 : l//2]
                for (int n = 0; n < l; n++) {
                    double w = 0.5 - 0.5 * Math.cos(2 * Math.PI * n / l);
                    double arg = 2 * Math.PI * f / 24000 * (first + n);
                    kr[k][n] = w * Math.cos(arg) / l;
                    ki[k][n] = w * Math.sin(arg) / l;
                    l1 += Math.hypot(kr[k][n], ki[k][n]);
                }
                for (int n = 0; n < l; n++) { kr[k][n] /= l1; ki[k][n] /= l1; }
            }
        }

        double value(float[] x, int frame, int k) {
            double re = 0, im = 0;
            int pad = fftLen / 2;
            for (int n = 0; n < len[k]; n++) {
                int idx = frame * 320 + start[k] + n - pad;
                if (idx < 0 || idx >= x.length) continue;
                re += x[idx] * kr[k][n];
                im -= x[idx] * ki[k][n];
            }
            return Math.sqrt(len[k]) * Math.hypot(re, im);
        }
    }

    private static final Reference REF = new Reference();

    private static void compareFrames(float[] x, int[] frames) {
        float[] out = CQT.magnitude(x);
        assertEquals(CQT.frames(x.length) * 336, out.length);
        int checked = 0;
        double worst = 0;
        for (int t : frames) {
            double[] ref = new double[336];
            double max = 0;
            for (int k = 0; k < 336; k++) { ref[k] = REF.value(x, t, k); max = Math.max(max, ref[k]); }
            for (int k = 0; k < 336; k++) {
                if (ref[k] < 1e-2 * max) continue;
                double rel = Math.abs(out[t * 336 + k] - ref[k]) / ref[k];
                worst = Math.max(worst, rel);
                assertTrue(rel < 1e-3, "frame " + t + " bin " + k + ": fast " + out[t * 336 + k] + " vs reference " + ref[k]);
                checked++;
            }
        }
        LOG.info("compared {} bins, worst relative error {}", checked, worst);
        assertTrue(checked > 100);
    }

    @Test
    void kernelGeometryMatchesNnAudio() {
        assertEquals(65536, REF.fftLen);
        for (int k = 0; k < 336; k++) assertEquals(REF.len[k], CQT.kernelLength(k));
        assertEquals(32.7 * Math.pow(2, 335 / 48.0), CQT.frequency(335), 1e-9);
    }

    @Test
    void sineAtABinCentrePeaksAtThatBin() {
        int bin = 200;
        double f = CQT.frequency(bin);
        float[] x = new float[24000 * 3];
        for (int i = 0; i < x.length; i++) x[i] = (float) (0.5 * Math.sin(2 * Math.PI * f * i / 24000));
        float[] out = CQT.magnitude(x);
        for (int t = 80; t < 150; t += 10) {
            int arg = 0;
            for (int k = 1; k < 336; k++) if (out[t * 336 + k] > out[t * 336 + arg]) arg = k;
            assertEquals(bin, arg, "frame " + t);
        }
        compareFrames(x, new int[] {0, 3, 100, CQT.frames(x.length) - 1});
    }

    @Test
    void randomAudioMatchesTimeDomainReference() {
        Random rnd = new Random(7);
        float[] x = new float[24000 * 2 + 123];
        for (int i = 0; i < x.length; i++) x[i] = (float) (0.3 * rnd.nextGaussian());
        int last = CQT.frames(x.length) - 1;
        compareFrames(x, new int[] {0, 1, 37, 75, 120, last - 1, last});
    }

    @Test
    void frameCountFollowsCenterPadding() {
        for (int n : new int[] {0, 1, 319, 320, 321, 9600, 120000}) {
            assertEquals(1 + n / 320, CQT.frames(n));
            assertEquals((1 + n / 320) * 336, CQT.magnitude(new float[n]).length);
        }
    }

    @Test
    void speedForTenSeconds() {
        Random rnd = new Random(1);
        float[] x = new float[240000];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        long t0 = System.nanoTime();
        CQT.magnitude(x);
        long t1 = System.nanoTime();
        CQT.magnitude(x);
        long t2 = System.nanoTime();
        LOG.info("CQT of 10 s: first call (builds kernels) {} ms, cached {} ms", (t1 - t0) / 1e6, (t2 - t1) / 1e6);
    }
}
