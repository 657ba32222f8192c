package io.mert.cli;

import io.mert.cli.bench.GlooBench;
import io.mert.cli.bench.StepBenchRunner;
import io.mert.cli.bench.StepBenchSide;
import io.mert.cli.bench.StepBenchSpec;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;

@Command(name = "step", mixinStandardHelpOptions = true,
        description = {"Time one training step (forward + backward + AdamW update) of a MERT preset, ours against "
                + "PyTorch's on the same architecture, weights, batch and thread count (torchaudio's wav2vec2 encoder "
                + "plus MERT's heads, run as a subprocess when Python with torch is present).",
                "Prints milliseconds per step (median), samples per second, peak memory and the ratios."})
final class StepBenchCommand implements Callable<Integer> {

    @Option(names = "--preset", defaultValue = "tiny", description = "tiny, MERT-95M or MERT-330M (default ${DEFAULT-VALUE})")
    String preset;

    @Option(names = "--batch", defaultValue = "4", description = "clips per step (default ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--crop", defaultValue = "24000", description = "samples per clip at 24 kHz (default ${DEFAULT-VALUE}, 1 s)")
    int crop;

    @Option(names = "--threads", description = "compute threads for both sides (default: all cores)")
    Integer threads;

    @Option(names = "--seconds", defaultValue = "20", description = "timed seconds per side, after warm-up (default ${DEFAULT-VALUE})")
    double seconds;

    @Option(names = "--warmup", defaultValue = "3", description = "untimed steps first (default ${DEFAULT-VALUE})")
    int warmup;

    @Option(names = "--min-steps", defaultValue = "5", description = "timed steps at least, whatever --seconds says (default ${DEFAULT-VALUE})")
    int minSteps;

    @Option(names = "--heap", defaultValue = "2048", description = "MiB of Java heap for our side (default ${DEFAULT-VALUE})")
    long heapMiB;

    @Option(names = "--profile", description = "also time our step by SameDiff op type and print where the time goes")
    boolean profile;

    @Option(names = "--no-torch", description = "skip the PyTorch peer")
    boolean noTorch;

    @Option(names = "--python", description = "Python with torch and torchaudio (default /usr/bin/python3, else python3)")
    String python;

    @Option(names = "--torch-script", description = "the peer script (default: " + StepBenchRunner.TORCH_SCRIPT + " in this checkout)")
    Path torchScript;

    @Option(names = "--torch-wait-policy", split = ",", defaultValue = "default,PASSIVE",
            description = "OMP_WAIT_POLICY values to run the PyTorch peer with, one run each; 'default' leaves it unset "
                    + "(default ${DEFAULT-VALUE}); the ratios use the fastest")
    java.util.List<String> torchWaitPolicies;

    @Option(names = "--rounds", defaultValue = "1",
            description = "run both sides this many times, one after the other, and give the ratios' median and range "
                    + "(this machine moves single runs by 20-40%%; default ${DEFAULT-VALUE})")
    int rounds;

    @Option(names = "--timeout", defaultValue = "1800", description = "seconds each side may take (default ${DEFAULT-VALUE})")
    long timeoutSeconds;

    @Override
    public Integer call() throws Exception {
        return run(System.out);
    }

    int run(PrintStream out) throws Exception {
        int t = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        StepBenchSpec spec = new StepBenchSpec(preset, batch, crop, t, seconds, warmup, minSteps, 100_000, 1e-4, profile);
        Path work = Files.createTempDirectory("mert-bench-step-");
        try {
            StepBenchRunner runner = new StepBenchRunner(work, Duration.ofSeconds(timeoutSeconds));
            out.printf(Locale.ROOT, "mert bench step: preset %s, batch %d x %d samples (%d frames), %d threads, "
                            + "~%.0f s per side after %d warm-up steps; %d cores, load average %.2f%n",
                    preset, batch, crop, spec.config().framesFor(crop), t, seconds, warmup,
                    Runtime.getRuntime().availableProcessors(),
                    java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
            if (rounds < 1) throw new IllegalArgumentException("--rounds must be at least 1, got " + rounds);
            java.util.List<double[]> ratios = new java.util.ArrayList<>();
            boolean torchSkipped = noTorch;
            for (int round = 1; round <= rounds; round++) {
                if (rounds > 1) out.printf(Locale.ROOT, "%n  round %d of %d%n", round, rounds);
                StepBenchSide ours = runner.runOurs(spec, heapMiB << 20);
                java.util.List<StepBenchSide> torch = new java.util.ArrayList<>();
                if (noTorch) {
                    out.println("  pytorch: skipped (--no-torch)");
                } else if (!torchSkipped) {
                    Optional<Path> script = torchScript != null ? Optional.of(torchScript) : StepBenchRunner.findTorchScript();
                    for (String policy : torchWaitPolicies) {
                        StringBuilder skipped = new StringBuilder();
                        Optional<StepBenchSide> o = runner.runTorch(python != null ? python : GlooBench.defaultPython(),
                                script.orElse(null), policy.trim(), skipped);
                        if (o.isEmpty()) {
                            out.println("  pytorch: skipped: " + skipped);
                            torchSkipped = true;
                            break;
                        }
                        torch.add(o.get());
                    }
                }
                StepBenchReport.print(out, spec, ours, torch);
                StepBenchReport.ratios(ours, torch).ifPresent(ratios::add);
            }
            if (rounds > 1) StepBenchReport.summary(out, ratios);
            return 0;
        } finally {
            deleteTree(work);
        }
    }

    private static void deleteTree(Path dir) {
        try (var paths = Files.walk(dir)) {
            paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (Exception e) {
            // a temp directory left behind is harmless
        }
    }
}
