package io.mert.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code mert} command. */
@Command(name = "mert", mixinStandardHelpOptions = true, version = "mert-trainer 0.1.0",
        description = "Fault-tolerant pre-training of MERT music models on a cluster of JVMs.",
        subcommands = {
                DemoCommand.class,
                PrepareManifestCommand.class,
                PrepareLabelsCommand.class,
                TrainCommand.class,
                CoordinatorCommand.class,
                WorkerCommand.class,
                ResumeCommand.class,
                ExtractCommand.class,
                ModelInfoCommand.class,
                ExportHfCommand.class,
                ImportHfCommand.class,
                BenchCommand.class,
                CertsCommand.class,
                ChaosCommand.class,
                StatusCommand.class,
                PlotCommand.class,
                CommandLine.HelpCommand.class})
public final class Mert implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        int rc;
        try {
            rc = execute(args);
        } catch (Throwable fatal) {
            // an Error (picocli rethrows those) must still end the process: a JVM whose main thread died keeps running
            // on its other threads, a worker that neither trains nor exits so that its pod is restarted
            System.err.println("mert: " + describe(fatal));
            fatal.printStackTrace();
            rc = 70;
        }
        System.exit(rc);
    }

    /** Runs a command line and returns its exit code; bad input prints a one-line error, not a stack trace. */
    public static int execute(String... args) {
        CommandLine cl = new CommandLine(new Mert());
        cl.setExecutionExceptionHandler((ex, line, parse) -> {
            line.getErr().println("mert " + line.getCommandName() + ": " + describe(ex));
            if (System.getenv("MERT_DEBUG") != null) ex.printStackTrace(line.getErr());
            return 1;
        });
        return cl.execute(args);
    }

    private static String describe(Throwable ex) {
        String msg = ex.getMessage();
        if (msg == null || msg.isBlank()) msg = ex.getClass().getSimpleName();
        Throwable cause = ex.getCause();
        if (cause != null && cause.getMessage() != null && !msg.contains(cause.getMessage())) msg += ": " + cause.getMessage();
        return msg;
    }
}
