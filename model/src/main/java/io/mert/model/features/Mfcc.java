package io.mert.model.features;

import org.jtransforms.fft.DoubleFFT_1D;

/**
 * MFCC + deltas + delta-deltas (39 dimensions), the features of HuBERT's first k-means iteration
 * ({@code simple_kmeans/dump_mfcc_feature.py}: {@code torchaudio.compliance.kaldi.mfcc} with its
 * Kaldi defaults and {@code use_energy=False}, then {@code compute_deltas} twice), which is also what
 * the MERT README names for the k-means acoustic teacher ("the vanilla MFCC version").
 *
 * <p>Kaldi defaults kept: 25 ms Povey window, DC removal, pre-emphasis 0.97, FFT size rounded up to a
 * power of two, power spectrum, 23 triangular mel bins on Kaldi's mel scale from 20 Hz to Nyquist,
 * log floored at float epsilon, orthonormal DCT-II, 13 cepstra, cepstral lifter 22, no dither.
 * Changed for MERT: one frame per model frame (hop 320 at 24 kHz = 75 Hz), with frame {@code i}
 * centred on the centre of the model frame's receptive field {@code [i*hop, i*hop + receptiveField)},
 * edges mirrored as Kaldi does with {@code snip_edges=false}. So label {@code i} describes exactly the
 * audio under model frame {@code i}, and a file gets as many labels as the model has frames.
 *
 * <p>Immutable and thread-safe.
 */
public final class Mfcc {
    public static final int CEPSTRA = 13;
    public static final int DIM = 3 * CEPSTRA;
    static final int MEL_BINS = 23;
    static final double LOW_FREQ = 20.0;
    static final double PREEMPHASIS = 0.97;
    static final double LIFTER = 22.0;
    static final double LOG_FLOOR = Math.ulp(1.0f); // torch.finfo(float32).eps

    private final int sampleRate;
    private final int hop;
    private final int receptiveField;
    private final int window;
    private final int fftSize;
    private final double[] povey;
    private final double[][] melWeights; // [MEL_BINS][fftSize/2]
    private final double[][] dct;        // [CEPSTRA][MEL_BINS]
    private final double[] lifter;

    /**
     * @param sampleRate     audio rate in Hz
     * @param hop            samples between frames
     * @param receptiveField samples seen by one model frame (400 for MERT's conv extractor)
     */
    public Mfcc(int sampleRate, int hop, int receptiveField) {
        if (sampleRate <= 0 || hop <= 0 || receptiveField <= 0)
            throw new IllegalArgumentException("MFCC parameters must be positive: sampleRate=" + sampleRate
                    + " hop=" + hop + " receptiveField=" + receptiveField);
        this.sampleRate = sampleRate;
        this.hop = hop;
        this.receptiveField = receptiveField;
        this.window = (int) (sampleRate * 0.025);
        this.fftSize = Integer.highestOneBit(window - 1) << 1;
        povey = new double[window];
        for (int i = 0; i < window; i++)
            povey[i] = Math.pow(0.5 - 0.5 * Math.cos(2 * Math.PI * i / (window - 1)), 0.85);
        melWeights = melBanks(sampleRate, fftSize);
        dct = new double[CEPSTRA][MEL_BINS];
        for (int k = 0; k < CEPSTRA; k++)
            for (int n = 0; n < MEL_BINS; n++)
                dct[k][n] = Math.cos(Math.PI / MEL_BINS * (n + 0.5) * k) * Math.sqrt((k == 0 ? 1.0 : 2.0) / MEL_BINS);
        lifter = new double[CEPSTRA];
        for (int k = 0; k < CEPSTRA; k++) lifter[k] = 1.0 + 0.5 * LIFTER * Math.sin(Math.PI * k / LIFTER);
    }

    /** MERT's framing: 24 kHz, hop 320 (75 Hz), receptive field 400 samples. */
    public static Mfcc mert() {
        return new Mfcc(24000, 320, 400);
    }

    public int dim() { return DIM; }

    public int hop() { return hop; }

    /** Frames of a conv extractor with this receptive field and stride: {@code 1 + (n - rf) / hop}, or 0. */
    public int frames(int samples) {
        return samples < receptiveField ? 0 : 1 + (samples - receptiveField) / hop;
    }

    /** Features of a whole waveform, one row per model frame: {@code [frames(len) * 39]} row-major. */
    public float[] features(float[] wave) {
        return features(wave, frames(wave.length));
    }

    /** Features for {@code frames} frames: rows are [13 MFCC, 13 deltas, 13 delta-deltas]. */
    public float[] features(float[] wave, int frames) {
        if (wave.length == 0 && frames > 0) throw new IllegalArgumentException("empty waveform");
        double[][] ceps = new double[frames][];
        DoubleFFT_1D fft = new DoubleFFT_1D(fftSize);
        double[] buf = new double[fftSize];
        for (int t = 0; t < frames; t++) ceps[t] = frame(wave, t, fft, buf);
        double[][] d1 = deltas(ceps);
        double[][] d2 = deltas(d1);
        float[] out = new float[frames * DIM];
        for (int t = 0; t < frames; t++)
            for (int k = 0; k < CEPSTRA; k++) {
                out[t * DIM + k] = (float) ceps[t][k];
                out[t * DIM + CEPSTRA + k] = (float) d1[t][k];
                out[t * DIM + 2 * CEPSTRA + k] = (float) d2[t][k];
            }
        return out;
    }

    /** First sample of frame t's analysis window (may be negative: mirrored). */
    int windowStart(int t) {
        return t * hop + receptiveField / 2 - window / 2;
    }

    private double[] frame(float[] wave, int t, DoubleFFT_1D fft, double[] buf) {
        java.util.Arrays.fill(buf, 0.0);
        int s0 = windowStart(t);
        double mean = 0;
        for (int i = 0; i < window; i++) {
            buf[i] = wave[mirror(s0 + i, wave.length)];
            mean += buf[i];
        }
        mean /= window;
        for (int i = 0; i < window; i++) buf[i] -= mean;
        for (int i = window - 1; i > 0; i--) buf[i] -= PREEMPHASIS * buf[i - 1];
        buf[0] -= PREEMPHASIS * buf[0];
        for (int i = 0; i < window; i++) buf[i] *= povey[i];
        fft.realForward(buf);
        int half = fftSize / 2;
        double[] power = new double[half];
        power[0] = buf[0] * buf[0];
        for (int i = 1; i < half; i++) power[i] = buf[2 * i] * buf[2 * i] + buf[2 * i + 1] * buf[2 * i + 1];
        double[] logMel = new double[MEL_BINS];
        for (int b = 0; b < MEL_BINS; b++) {
            double e = 0;
            for (int i = 0; i < half; i++) e += melWeights[b][i] * power[i];
            logMel[b] = Math.log(Math.max(e, LOG_FLOOR));
        }
        double[] c = new double[CEPSTRA];
        for (int k = 0; k < CEPSTRA; k++) {
            double s = 0;
            for (int n = 0; n < MEL_BINS; n++) s += dct[k][n] * logMel[n];
            c[k] = s * lifter[k];
        }
        return c;
    }

    /** Kaldi's edge mirroring for snip_edges=false: -1 -> 0, n -> n-1 (repeats the edge sample). */
    static int mirror(int i, int n) {
        while (i < 0 || i >= n) {
            if (i < 0) i = -i - 1;
            if (i >= n) i = 2 * n - 1 - i;
        }
        return i;
    }

    /** Kaldi's mel scale. */
    static double mel(double hz) {
        return 1127.0 * Math.log(1.0 + hz / 700.0);
    }

    /** Kaldi/torchaudio triangular mel filters over the first fftSize/2 FFT bins (the Nyquist bin gets 0). */
    static double[][] melBanks(int sampleRate, int fftSize) {
        int half = fftSize / 2;
        double binWidth = (double) sampleRate / fftSize;
        double lo = mel(LOW_FREQ);
        double hi = mel(sampleRate / 2.0);
        double delta = (hi - lo) / (MEL_BINS + 1);
        double[][] w = new double[MEL_BINS][half];
        for (int b = 0; b < MEL_BINS; b++) {
            double left = lo + b * delta;
            double centre = left + delta;
            double right = centre + delta;
            for (int i = 0; i < half; i++) {
                double m = mel(binWidth * i);
                if (m > left && m < right)
                    w[b][i] = m <= centre ? (m - left) / (centre - left) : (right - m) / (right - centre);
            }
        }
        return w;
    }

    /** torchaudio {@code compute_deltas} with win_length 5: regression over +-2 frames, edges replicated. */
    static double[][] deltas(double[][] x) {
        int frames = x.length;
        double[][] d = new double[frames][];
        for (int t = 0; t < frames; t++) {
            int dim = x[t].length;
            d[t] = new double[dim];
            for (int k = 0; k < dim; k++) {
                double s = 0;
                for (int n = 1; n <= 2; n++) {
                    double next = x[Math.min(t + n, frames - 1)][k];
                    double prev = x[Math.max(t - n, 0)][k];
                    s += n * (next - prev);
                }
                d[t][k] = s / 10.0;
            }
        }
        return d;
    }
}
