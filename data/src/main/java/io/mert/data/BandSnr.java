package io.mert.data;

import org.jtransforms.fft.DoubleFFT_1D;

/**
 * How close one resampled signal is to a reference: the power of the reference over the power of the
 * difference, both Hann windowed, in the spectrum's bins below a band edge. The band leaves out the
 * transition band, where two good resamplers legitimately differ; {@code edge} samples are dropped at
 * each end, where they see different zero padding.
 */
public final class BandSnr {

    private BandSnr() {}

    /** SNR in dB of {@code ours} against {@code ref} (both at {@code rate}) below {@code bandHz}, over [edge, n - edge). */
    public static double db(float[] ref, float[] ours, int rate, double bandHz, int edge) {
        if (ref.length != ours.length)
            throw new IllegalArgumentException("signals differ in length: " + ref.length + " vs " + ours.length);
        int n = ref.length - 2 * edge;
        if (n < 16) throw new IllegalArgumentException(ref.length + " samples leave nothing between edges of " + edge);
        double[] r = new double[n], d = new double[n];
        for (int i = 0; i < n; i++) {
            double w = 0.5 - 0.5 * Math.cos(2 * Math.PI * i / (n - 1));
            r[i] = w * ref[edge + i];
            d[i] = w * (ours[edge + i] - ref[edge + i]);
        }
        DoubleFFT_1D fft = new DoubleFFT_1D(n);
        fft.realForward(r);
        fft.realForward(d);
        int maxBin = (int) Math.floor(bandHz * n / rate);
        double sig = 0, err = 0;
        for (int k = 1; k <= maxBin && 2 * k + 1 < n; k++) {
            sig += r[2 * k] * r[2 * k] + r[2 * k + 1] * r[2 * k + 1];
            err += d[2 * k] * d[2 * k] + d[2 * k + 1] * d[2 * k + 1];
        }
        return 10 * Math.log10(sig / err);
    }
}
