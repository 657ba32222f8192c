package io.mert.cli;

import io.mert.cli.bench.ResampleBench;
import io.mert.data.audio.AudioDecoders;
import io.mert.data.audio.DecodedAudio;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "resample", mixinStandardHelpOptions = true,
        description = {"Time our resampler (Kaiser-windowed sinc, data/Resampler) against `sox rate -v` converting the "
                + "same mono audio to 24 kHz: a real file (--input) or a synthetic piece at each of --rates.",
                "Prints milliseconds (median of --trials), times real time, the ratio ours/sox, the SNR of our output "
                        + "against sox's (below 90% of the lower Nyquist frequency) and our filter's stop-band attenuation."})
final class ResampleBenchCommand implements Callable<Integer> {

    @Option(names = "--input", description = "an audio file (WAV, FLAC, Ogg Vorbis, MP3), mixed down to mono; "
            + "default: synthetic music at each of --rates")
    Path input;

    @Option(names = "--rates", split = ",", defaultValue = "44100,22050",
            description = "input rates of the synthetic piece (default ${DEFAULT-VALUE})")
    List<Integer> rates;

    @Option(names = "--seconds", defaultValue = "60", description = "length of the synthetic piece (default ${DEFAULT-VALUE})")
    double seconds;

    @Option(names = "--to", defaultValue = "24000", description = "output rate (default ${DEFAULT-VALUE}, MERT's)")
    int outRate;

    @Option(names = "--trials", defaultValue = "3", description = "timed runs per side; the median is reported (default ${DEFAULT-VALUE})")
    int trials;

    @Option(names = "--sox", defaultValue = "sox", description = "the sox executable (default ${DEFAULT-VALUE})")
    String sox;

    @Option(names = "--no-sox", description = "time ours only")
    boolean noSox;

    @Override
    public Integer call() throws Exception {
        return run(System.out);
    }

    int run(PrintStream out) throws Exception {
        if (!(seconds > 0)) throw new IllegalArgumentException("--seconds must be > 0, got " + seconds);
        String soxExe = noSox ? null : sox;
        if (soxExe != null && !soxRuns(soxExe)) {
            out.println("  sox: skipped: '" + soxExe + "' does not run (on Debian: apt-get install sox)");
            soxExe = null;
        } else if (soxExe == null) {
            out.println("  sox: skipped (--no-sox)");
        }
        Path work = Files.createTempDirectory("mert-bench-resample-");
        try {
            ResampleBench bench = new ResampleBench(work, soxExe, trials);
            out.printf(Locale.ROOT, "mert bench resample: to %d Hz, median of %d trials per side, one thread each; "
                            + "%d cores, load average %.2f%n", outRate, trials, Runtime.getRuntime().availableProcessors(),
                    java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
            out.println("  ours: Resampler.apply in memory (filter table built beforehand); sox: the whole "
                    + "`sox -D in.wav -e floating-point -b 32 out.wav rate -v " + outRate + "` process, float WAV in and out");
            out.printf(Locale.ROOT, "%-26s %9s %8s %9s %8s %9s %12s %22s%n", "input", "ours ms", "x rt", "sox ms", "x rt",
                    "ours/sox", "SNR vs sox", "our stop band");
            if (input != null) {
                DecodedAudio a = AudioDecoders.decode(input);
                row(out, bench, a.mono(), a.sampleRate(), input.getFileName().toString());
            } else {
                for (int rate : rates) {
                    row(out, bench, ResampleBench.syntheticMusic(rate, seconds, 17), rate, "synthetic");
                }
            }
            out.printf(Locale.ROOT, "  SNR: power of sox's output over power of (ours - sox's), Hann windowed, bins below "
                    + "%.0f%% of the lower Nyquist frequency, 50 ms left out at each end (as ResamplerSoxReferenceTest).%n",
                    ResampleBench.SNR_BAND * 100);
            out.println("  stop band: the peak gain of our filter (from its impulse response) at or above the lower Nyquist "
                    + "frequency, relative to DC.");
            return 0;
        } finally {
            try (var paths = Files.walk(work)) {
                paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            } catch (IOException e) {
                // a temp directory left behind is harmless
            }
        }
    }

    private void row(PrintStream out, ResampleBench bench, float[] x, int rate, String name) throws Exception {
        if (rate == outRate) {
            out.printf(Locale.ROOT, "  %s is already at %d Hz: nothing to resample%n", name, outRate);
            return;
        }
        ResampleBench.Result r = bench.run(x, rate, outRate);
        String label = String.format(Locale.ROOT, "%s %d Hz %.1f s", name, rate, r.audioSeconds());
        boolean sox = !Double.isNaN(r.soxSeconds());
        out.printf(Locale.ROOT, "%-26s %9.1f %8.1f %9s %8s %9s %12s %22s%n", label, r.oursSeconds() * 1e3, r.oursRealTime(),
                sox ? String.format(Locale.ROOT, "%.1f", r.soxSeconds() * 1e3) : "-",
                sox ? String.format(Locale.ROOT, "%.1f", r.soxRealTime()) : "-",
                sox ? String.format(Locale.ROOT, "%.2fx", r.ratio()) : "-",
                sox ? String.format(Locale.ROOT, "%.1f dB", r.snrDb()) : "-",
                String.format(Locale.ROOT, "%.1f dB >= %.0f Hz", r.stopBandDb(), r.stopBandFromHz()));
    }

    private static boolean soxRuns(String sox) {
        try {
            Process p = new ProcessBuilder(sox, "--version").redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            return p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }
}
