package io.mert.model.features;

import org.jtransforms.fft.DoubleFFT_1D;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Constant-Q transform magnitude with the semantics of nnAudio's {@code CQT1992v2} (the musical teacher
 * of MERT): periodic Hann kernels of length {@code l_k = ceil(Q * sr / f_k)}, L1-normalised, centred on
 * the frame (center=True, zero padding), output multiplied by {@code sqrt(l_k)} ("librosa"
 * normalisation) and returned as the linear magnitude.
 *
 * <p>Per bin and frame this is {@code sqrt(l)/sum(w) * |sum_n x[t*hop + a + n] w[n] exp(i*omega*n)|}
 * with {@code a = floor(-l/2)}. Instead of the time-domain convolution we transform the whole padded
 * signal once, multiply by each kernel's (analytically evaluated, band-limited) spectrum and fold the
 * product modulo {@code P = M / hop}: an inverse FFT of size {@code P} then yields the kernel
 * response exactly at the frame positions {@code t*hop}. Kernel spectra are truncated to
 * {@value #BAND_LOBES} units of {@code M / l} bins (64 Hann main lobes) on each side of the centre
 * frequency; the Hann sidelobes fall off as the cube of the distance, so the error falls as the square of
 * the band. Against nnAudio itself (CqtNnAudioReferenceTest; MERT's arguments, a 30 Hz - 11 kHz sweep and
 * music): max |error| / max magnitude 1e-5 (nnAudio's own float32 round-off), per-bin relative error below
 * 6e-4 on every bin within 60 dB of the clip's maximum. 64 units, half the band, left 3e-3 there.
 * Cost for 10 s at 24 kHz: about 0.1 s, plus about 2 s once per cached transform length; the cached
 * kernels take about 58 MB for 5 s crops (proportional to the length).
 *
 * <p>Thread-safe; kernel spectra are cached per padded transform length (a handful of lengths).
 */
public final class Cqt {
    /** Half-width of the retained kernel spectrum, in units of {@code M / l} bins (half a Hann main lobe). */
    static final int BAND_LOBES = 128;
    private static final int CACHE_SIZE = 4;

    private final int sampleRate;
    private final int hop;
    private final int bins;
    private final double[] freqs;
    private final int[] lengths;
    private final double[] scales;
    private final int maxLength;
    private final Map<Integer, Kernels> cache = new LinkedHashMap<>(8, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Integer, Kernels> eldest) {
            return size() > CACHE_SIZE;
        }
    };

    /**
     * @param sampleRate    audio rate in Hz
     * @param hop           samples between frames
     * @param fmin          centre frequency of the lowest bin in Hz
     * @param bins          number of bins
     * @param binsPerOctave bins per octave
     * @param filterScale   nnAudio's filter_scale (1 in MERT)
     */
    public Cqt(int sampleRate, int hop, double fmin, int bins, int binsPerOctave, double filterScale) {
        if (sampleRate <= 0 || hop <= 0 || bins <= 0 || binsPerOctave <= 0 || fmin <= 0 || filterScale <= 0)
            throw new IllegalArgumentException("CQT parameters must be positive: sampleRate=" + sampleRate
                    + " hop=" + hop + " fmin=" + fmin + " bins=" + bins + " binsPerOctave=" + binsPerOctave
                    + " filterScale=" + filterScale);
        this.sampleRate = sampleRate;
        this.hop = hop;
        this.bins = bins;
        double q = filterScale / (Math.pow(2.0, 1.0 / binsPerOctave) - 1.0);
        freqs = new double[bins];
        lengths = new int[bins];
        scales = new double[bins];
        int max = 0;
        for (int k = 0; k < bins; k++) {
            freqs[k] = fmin * Math.pow(2.0, k / (double) binsPerOctave);
            if (freqs[k] > sampleRate / 2.0)
                throw new IllegalArgumentException("top CQT bin " + freqs[k] + " Hz exceeds the Nyquist frequency "
                        + sampleRate / 2.0 + " Hz: reduce bins (" + bins + ") or fmin (" + fmin + ")");
            lengths[k] = (int) Math.ceil(q * sampleRate / freqs[k]);
            double windowSum = 0;
            for (int n = 0; n < lengths[k]; n++) windowSum += hann(n, lengths[k]);
            scales[k] = Math.sqrt(lengths[k]) / windowSum;
            max = Math.max(max, lengths[k]);
        }
        maxLength = max;
    }

    /** MERT's musical teacher: 24 kHz, hop 320, fmin 32.7 Hz, 336 bins, 48 per octave, filter scale 1. */
    public static Cqt mert() {
        return new Cqt(24000, 320, 32.7, 336, 48, 1.0);
    }

    public int bins() { return bins; }

    public int hop() { return hop; }

    public int sampleRate() { return sampleRate; }

    /** Frames nnAudio produces with center=True: {@code 1 + samples / hop}. */
    public int frames(int samples) { return 1 + samples / hop; }

    /** Centre frequency of bin k in Hz. */
    public double frequency(int k) { return freqs[k]; }

    /** Kernel length of bin k in samples. */
    public int kernelLength(int k) { return lengths[k]; }

    /** Periodic Hann window (scipy {@code get_window('hann', l, fftbins=True)}). */
    static double hann(int n, int l) {
        return 0.5 - 0.5 * Math.cos(2 * Math.PI * n / l);
    }

    /**
     * CQT magnitude of a mono waveform.
     *
     * @return {@code [frames * bins]} row-major (frame-major), {@code frames = 1 + wave.length / hop}
     */
    public float[] magnitude(float[] wave) {
        int len = wave.length;
        int frames = frames(len);
        int p = smoothAtLeast(ceilDiv((long) len + maxLength / 2 + 2, hop));
        int m = p * hop;
        Kernels kernels = kernels(p);

        double[] spectrum = new double[m];
        for (int i = 0; i < len; i++) spectrum[i] = wave[i];
        new DoubleFFT_1D(m).realForward(spectrum);

        DoubleFFT_1D small = new DoubleFFT_1D(p);
        double[] folded = new double[2 * p];
        float[] out = new float[frames * bins];
        for (int k = 0; k < bins; k++) {
            java.util.Arrays.fill(folded, 0.0);
            float[] re = kernels.re[k];
            float[] im = kernels.im[k];
            int f0 = kernels.start[k];
            int r = Math.floorMod(f0, p);
            for (int j = 0; j < re.length; j++) {
                int f = f0 + j;
                double br;
                double bi;
                // realForward layout: a[2f] = Re, a[2f+1] = Im for 0 < f < m/2; conjugate symmetry beyond.
                int fm = Math.floorMod(f, m);
                if (fm == 0) { br = spectrum[0]; bi = 0; }
                else if (fm == m / 2) { br = spectrum[1]; bi = 0; }
                else if (fm < m / 2) { br = spectrum[2 * fm]; bi = spectrum[2 * fm + 1]; }
                else { br = spectrum[2 * (m - fm)]; bi = -spectrum[2 * (m - fm) + 1]; }
                double kr = re[j];
                double ki = im[j];
                folded[2 * r] += br * kr - bi * ki;
                folded[2 * r + 1] += br * ki + bi * kr;
                if (++r == p) r = 0;
            }
            small.complexInverse(folded, false);
            for (int t = 0; t < frames; t++) {
                double a = folded[2 * t];
                double b = folded[2 * t + 1];
                out[t * bins + k] = (float) Math.sqrt(a * a + b * b);
            }
        }
        return out;
    }

    private Kernels kernels(int p) {
        synchronized (cache) {
            Kernels k = cache.get(p);
            if (k != null) return k;
        }
        Kernels built = new Kernels(p * hop);
        synchronized (cache) {
            cache.putIfAbsent(p, built);
            return cache.get(p);
        }
    }

    /**
     * Band-limited spectra of every kernel for transform length m, already conjugated, phase-shifted
     * by the kernel's start offset {@code a = floor(-l/2)} and scaled by {@code sqrt(l)/sum(w)/m}.
     */
    private final class Kernels {
        final int[] start = new int[bins];
        final float[][] re = new float[bins][];
        final float[][] im = new float[bins][];

        Kernels(int m) {
            for (int k = 0; k < bins; k++) {
                int l = lengths[k];
                double omega = 2 * Math.PI * freqs[k] / sampleRate;
                double centre = freqs[k] * m / sampleRate;
                int half = (int) Math.ceil((double) BAND_LOBES * m / l) + 2;
                int f0 = (int) Math.floor(centre) - half;
                int n = 2 * half + 2;
                start[k] = f0;
                re[k] = new float[n];
                im[k] = new float[n];
                int a = Math.floorDiv(-l, 2);
                double halfBeta = Math.PI / l;
                double cb = Math.cos(halfBeta);
                double sb = Math.sin(halfBeta);
                // e^{i beta (l-1)/2} = -e^{-i pi / l}
                double er = -Math.cos(halfBeta);
                double ei = Math.sin(halfBeta);
                double scale = scales[k] / m;
                for (int j = 0; j < n; j++) {
                    int f = f0 + j;
                    double theta = omega - 2 * Math.PI * f / m;
                    // H(theta) = sum_n w[n] e^{i theta n}, w the periodic Hann: three Dirichlet sums
                    // D(phi) = e^{i phi (l-1)/2} sin(l phi/2)/sin(phi/2) at phi = theta, theta +- beta,
                    // which share sin(l phi/2) up to sign because beta*l/2 = pi. H = e^{i theta (l-1)/2} R.
                    double sl = Math.sin(l * theta / 2);
                    double s0 = Math.sin(theta / 2);
                    double c0 = Math.cos(theta / 2);
                    double d0 = ratio(sl, s0, l);
                    double dp = ratio(-sl, s0 * cb + c0 * sb, l);
                    double dm = ratio(-sl, s0 * cb - c0 * sb, l);
                    double rr = 0.5 * d0 - 0.25 * (dp + dm) * er;
                    double ri = -0.25 * (dp - dm) * ei;
                    // conj(H) e^{2 pi i f a / m} = conj(R) e^{i (2 pi f a / m - theta (l-1)/2)}
                    double ph = 2 * Math.PI * ((long) f * a % m) / m - theta * (l - 1) / 2;
                    double cr = Math.cos(ph);
                    double ci = Math.sin(ph);
                    re[k][j] = (float) (scale * (rr * cr + ri * ci));
                    im[k][j] = (float) (scale * (rr * ci - ri * cr));
                }
            }
        }
    }

    /** sin(l phi/2) / sin(phi/2), with its limit l where phi = 0 (the band never reaches +-2 pi). */
    private static double ratio(double num, double den, int l) {
        return Math.abs(den) < 1e-300 ? l : num / den;
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    /**
     * Smallest of {2^e, 5*2^(e-2), 3*2^(e-1)} that is at least n: FFT-friendly sizes that keep the
     * number of distinct cached kernel sets small while wasting at most 25%.
     */
    static int smoothAtLeast(long n) {
        long best = Long.MAX_VALUE;
        for (long pow = 4; pow < (1L << 40); pow <<= 1) {
            for (long c : new long[] {pow, 5 * pow / 4, 3 * pow / 2}) if (c >= n && c < best) best = c;
            if (pow >= n) break;
        }
        if (best > Integer.MAX_VALUE / 1024) throw new IllegalArgumentException("waveform too long for the CQT: " + n);
        return (int) best;
    }
}
