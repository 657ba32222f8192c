package io.mert.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code mert bench}: benchmarks that print our numbers next to a peer's. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Benchmarks, each printing a ratio against its peer.",
        subcommands = {AllReduceBenchCommand.class, StepBenchCommand.class, ScalingBenchCommand.class, RecoveryBenchCommand.class,
                ResampleBenchCommand.class, LoaderBenchCommand.class})
final class BenchCommand implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
