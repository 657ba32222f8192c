package io.mert.cli.bench;

import io.mert.data.BandSnr;
import io.mert.data.Resampler;
import io.mert.data.WavFile;
import org.jtransforms.fft.DoubleFFT_1D;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * One row of {@code mert bench resample}: our {@link Resampler} and {@code sox rate -v} converting the
 * same mono input to the target rate, each timed over several trials (median), the SNR of ours against
 * sox's output (the measure of ResamplerSoxReferenceTest: {@link BandSnr} below 90% of the lower Nyquist
 * frequency, 50 ms left out at each end) and the stop-band attenuation of our filter, computed from its
 * impulse response.
 */
public final class ResampleBench {

    /** The band the SNR is measured in, as a fraction of the lower Nyquist frequency (as in ResamplerSoxReferenceTest). */
    public static final double SNR_BAND = 0.9;

    /**
     * @param oursSeconds  median seconds of {@link Resampler#apply} (in memory, table built once beforehand)
     * @param soxSeconds   median seconds of the sox process (reads and writes a float WAV), NaN if sox was not run
     * @param snrDb        ours against sox, NaN if sox was not run
     * @param stopBandDb   peak response of our filter at or above the lower Nyquist frequency, relative to DC
     */
    public record Result(int inRate, int outRate, double audioSeconds, double oursSeconds, double soxSeconds, double snrDb,
                         double stopBandDb, double stopBandFromHz) {
        public double oursRealTime() { return audioSeconds / oursSeconds; }

        public double soxRealTime() { return audioSeconds / soxSeconds; }

        public double ratio() { return oursSeconds / soxSeconds; }
    }

    private final Path workDir;
    private final String sox;
    private final int trials;

    /** @param sox the sox executable, or null to time ours only */
    public ResampleBench(Path workDir, String sox, int trials) {
        if (trials < 1) throw new IllegalArgumentException("--trials must be >= 1, got " + trials);
        this.workDir = workDir;
        this.sox = sox;
        this.trials = trials;
    }

    public Result run(float[] input, int inRate, int outRate) throws IOException, InterruptedException {
        if (inRate == outRate) throw new IllegalArgumentException("input is already at " + outRate + " Hz: nothing to resample");
        Resampler ours = new Resampler(inRate, outRate);
        float[] out = ours.apply(input); // warm-up (JIT), and the output compared with sox's
        double[] oursTimes = new double[trials];
        for (int t = 0; t < trials; t++) {
            long t0 = System.nanoTime();
            float[] o = ours.apply(input);
            oursTimes[t] = (System.nanoTime() - t0) / 1e9;
            if (o.length != out.length) throw new IllegalStateException("output length changed between trials");
        }
        double lowerNyquist = Math.min(inRate, outRate) / 2.0;
        double stopBand = stopBandDb(ours, lowerNyquist);
        double audio = input.length / (double) inRate;
        if (sox == null) {
            return new Result(inRate, outRate, audio, median(oursTimes), Double.NaN, Double.NaN, stopBand, lowerNyquist);
        }
        Path in = workDir.resolve("in_" + inRate + ".wav");
        Path soxOut = workDir.resolve("sox_" + inRate + "_to_" + outRate + ".wav");
        WavFile.writeMono(in, input, inRate, WavFile.Encoding.FLOAT_32);
        double[] soxTimes = new double[trials];
        runSox(in, soxOut, outRate); // warm-up: page cache, the binary
        for (int t = 0; t < trials; t++) soxTimes[t] = runSox(in, soxOut, outRate);
        float[] ref = WavFile.readMono(soxOut).samples();
        // ours has ceil(n * out / in) samples (torchaudio's length); sox may end one sample earlier
        if (Math.abs(ref.length - out.length) > 1)
            throw new IOException("sox wrote " + ref.length + " samples, ours " + out.length + " for " + input.length + " at "
                    + inRate + " -> " + outRate + " Hz");
        int common = Math.min(ref.length, out.length);
        int edge = outRate / 20;
        double snr = BandSnr.db(Arrays.copyOf(ref, common), Arrays.copyOf(out, common), outRate, SNR_BAND * lowerNyquist, edge);
        return new Result(inRate, outRate, audio, median(oursTimes), median(soxTimes), snr, stopBand, lowerNyquist);
    }

    /** Wall seconds of one {@code sox -D in -e floating-point -b 32 out rate -v R} (no dither: output as computed). */
    private double runSox(Path in, Path out, int outRate) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(sox, "-D", in.toString(), "-e", "floating-point", "-b", "32",
                out.toString(), "rate", "-v", Integer.toString(outRate)));
        Path log = workDir.resolve("sox.log");
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(600, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("sox did not finish within 600 s: " + String.join(" ", cmd));
        }
        double s = (System.nanoTime() - t0) / 1e9;
        if (p.exitValue() != 0)
            throw new IOException("sox failed (exit " + p.exitValue() + "): " + String.join(" ", cmd) + "\n"
                    + Files.readString(log, StandardCharsets.UTF_8).strip());
        return s;
    }

    /**
     * Peak gain of our filter at frequencies from {@code fromHz} up to half the rate of its polyphase grid
     * (everything the resampler must reject: images of the input spectrum and what would alias into the
     * output), relative to its gain at DC, in dB. The impulse response is sampled at {@code 1/phases} input
     * samples and transformed with enough zero padding for a resolution of at most 2 Hz.
     */
    public static double stopBandDb(Resampler r, double fromHz) {
        int up = r.phases();
        double fineRate = (double) r.inRate() * up;
        int half = (int) Math.ceil(r.halfWidth() * up);
        int n = Integer.highestOneBit(Math.max(4 * (2 * half + 1), (int) Math.ceil(fineRate / 2.0)) - 1) << 1;
        double[] h = new double[n];
        for (int j = -half; j <= half; j++) h[Math.floorMod(j, n)] = r.kernel(j / (double) up);
        new DoubleFFT_1D(n).realForward(h);
        double dc = Math.abs(h[0]);
        int first = (int) Math.ceil(fromHz * n / fineRate);
        double peak = 0;
        for (int k = Math.max(1, first); k < n / 2; k++) peak = Math.max(peak, Math.hypot(h[2 * k], h[2 * k + 1]));
        return 20 * Math.log10(peak / dc);
    }

    /**
     * A seeded stand-in for music: a chord progression (one chord per half second, four voices with
     * harmonics and a decay), a bass line, a slow chirp over the whole band and a little noise, peak about 0.8.
     */
    public static float[] syntheticMusic(int rate, double seconds, long seed) {
        int n = (int) Math.round(rate * seconds);
        float[] x = new float[n];
        SplittableRandom rnd = new SplittableRandom(seed);
        int chord = (int) Math.round(rate * 0.5);
        double[] freqs = new double[4];
        for (int start = 0; start < n; start += chord) {
            int root = 45 + rnd.nextInt(12); // MIDI A2..G#3
            int[] steps = {0, rnd.nextBoolean() ? 3 : 4, 7, 12};
            for (int v = 0; v < 4; v++) freqs[v] = 440 * Math.pow(2, (root + 12 + steps[v] - 69) / 12.0);
            double bass = 440 * Math.pow(2, (root - 12 - 69) / 12.0);
            for (int i = start; i < Math.min(n, start + chord); i++) {
                double t = (i - start) / (double) rate;
                double env = Math.exp(-3 * t) * Math.min(1, t / 0.005);
                double s = 0.25 * Math.sin(2 * Math.PI * bass * t);
                for (double f : freqs) {
                    for (int h = 1; h <= 6 && h * f < rate / 2.0; h++) s += 0.08 / h * Math.sin(2 * Math.PI * h * f * t + h);
                }
                x[i] = (float) (env * s);
            }
        }
        double top = 0.45 * rate; // the chirp sweeps 20 Hz .. 45% of the rate and back, once per 10 s
        double phase = 0;
        for (int i = 0; i < n; i++) {
            double u = (i / (double) rate % 10.0) / 10.0;
            double f = 20 * Math.pow(top / 20, u < 0.5 ? 2 * u : 2 - 2 * u);
            phase += 2 * Math.PI * f / rate;
            x[i] += (float) (0.05 * Math.sin(phase) + 0.003 * (rnd.nextDouble() * 2 - 1));
        }
        return x;
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }
}
