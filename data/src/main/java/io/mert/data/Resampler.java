package io.mert.data;

/**
 * Band-limited resampling between integer rates with a Kaiser-windowed sinc.
 *
 * <p>Output sample {@code n} sits at input time {@code n * in / out}; it is the sum of input samples
 * weighted by {@code fc * sinc(fc * tau) * kaiser(tau / W)}, where {@code fc = rolloff * min(1, out/in)}
 * is the cutoff relative to the input Nyquist frequency and the window spans {@value #ZERO_CROSSINGS}
 * zero crossings of the sinc on each side. With beta {@value #BETA} (about 90 dB stop band) and
 * rolloff {@value #ROLLOFF}, the transition band ends just below the lower Nyquist frequency, so
 * tones above it are removed instead of aliased. The rational phases are tabulated when their
 * count is small (22050 to 24000: 160 phases). Samples outside the input count as zero.
 *
 * <p>Immutable and thread-safe.
 */
public final class Resampler {
    static final int ZERO_CROSSINGS = 64;
    static final double BETA = 8.96;
    static final double ROLLOFF = 0.955;
    private static final long MAX_TABLE = 1 << 22;

    private final int inRate;
    private final int outRate;
    private final int up;    // out / gcd
    private final int down;  // in / gcd
    private final double cutoff;
    private final double halfWidth; // in input samples
    private final int taps;
    private final float[][] table; // [phase][taps], or null to compute on the fly

    public Resampler(int inRate, int outRate) {
        if (inRate <= 0 || outRate <= 0)
            throw new IllegalArgumentException("sample rates must be positive: " + inRate + " -> " + outRate);
        this.inRate = inRate;
        this.outRate = outRate;
        int g = gcd(inRate, outRate);
        up = outRate / g;
        down = inRate / g;
        cutoff = ROLLOFF * Math.min(1.0, (double) outRate / inRate);
        halfWidth = ZERO_CROSSINGS / cutoff;
        taps = 2 * (int) Math.ceil(halfWidth) + 1;
        if ((long) up * taps <= MAX_TABLE && inRate != outRate) {
            table = new float[up][taps];
            for (int p = 0; p < up; p++) fillTaps(p, table[p]);
        } else {
            table = null;
        }
    }

    /** One-shot convenience. */
    public static float[] resample(float[] in, int inRate, int outRate) {
        return new Resampler(inRate, outRate).apply(in);
    }

    public int inRate() { return inRate; }

    public int outRate() { return outRate; }

    /** Output length for {@code n} input samples: {@code ceil(n * out / in)}. */
    public int outputLength(int n) {
        return (int) (((long) n * up + down - 1) / down);
    }

    public float[] apply(float[] in) {
        if (inRate == outRate) return in.clone();
        int n = outputLength(in.length);
        float[] out = new float[n];
        int reach = (int) Math.ceil(halfWidth);
        float[] scratch = table == null ? new float[taps] : null;
        for (int j = 0; j < n; j++) {
            long num = (long) j * down;
            int base = (int) (num / up);
            int phase = (int) (num % up);
            float[] h = table != null ? table[phase] : fill(phase, scratch);
            int first = base - reach;
            int lo = Math.max(0, -first);
            int hi = Math.min(taps, in.length - first);
            double acc = 0;
            for (int t = lo; t < hi; t++) acc += h[t] * in[first + t];
            out[j] = (float) acc;
        }
        return out;
    }

    private float[] fill(int phase, float[] h) {
        fillTaps(phase, h);
        return h;
    }

    /** Taps for input samples {@code base - reach ... base + reach} at fractional position phase/up. */
    private void fillTaps(int phase, float[] h) {
        int reach = (taps - 1) / 2;
        double frac = phase / (double) up;
        for (int t = 0; t < taps; t++) {
            double tau = frac - (t - reach); // output time minus input sample time, in input samples
            double r = tau / halfWidth;
            h[t] = (float) kernel(tau);
        }
    }

    /**
     * The filter's continuous impulse response at {@code tau} input samples from the output instant: the
     * taps are its samples at the {@code outRate / gcd} phases. Its frequency response is the resampler's:
     * sampled at {@code 1/up} input samples, it is the low-pass of the equivalent upsample-filter-downsample.
     */
    public double kernel(double tau) {
        double r = tau / halfWidth;
        return Math.abs(r) >= 1 ? 0 : cutoff * sinc(cutoff * tau) * bessel0(BETA * Math.sqrt(1 - r * r)) / bessel0(BETA);
    }

    /** Half-length of the impulse response in input samples ({@link #kernel} is zero beyond). */
    public double halfWidth() { return halfWidth; }

    /** Phases of the polyphase filter: {@code outRate / gcd(inRate, outRate)}. */
    public int phases() { return up; }

    private static double sinc(double x) {
        if (Math.abs(x) < 1e-12) return 1.0;
        return Math.sin(Math.PI * x) / (Math.PI * x);
    }

    /** Modified Bessel function of the first kind, order 0 (power series). */
    static double bessel0(double x) {
        double sum = 1, term = 1, q = x * x / 4;
        for (int k = 1; k < 200 && term > 1e-17 * sum; k++) {
            term *= q / ((double) k * k);
            sum += term;
        }
        return sum;
    }

    private static int gcd(int a, int b) {
        while (b != 0) {
            int t = a % b;
            a = b;
            b = t;
        }
        return a;
    }
}
