package io.mert.cli.bench;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** {@code mert} nodes as separate JVM processes of this program, each logging to its own file; all killed on close. */
public final class NodeProcesses implements AutoCloseable {

    private final Path logDir;
    private final String mainClass;
    private final List<Process> started = new ArrayList<>();

    public NodeProcesses(Path logDir, String mainClass) {
        this.logDir = logDir;
        this.mainClass = mainClass;
    }

    /** Starts {@code mert args...} with its output in {@code logDir/name.log}. */
    public Process start(String name, List<String> args) throws IOException {
        return start(name, List.of(), args);
    }

    /** As {@link #start(String, List)}, with extra JVM options (e.g. {@code -Dpekko...} settings). */
    public Process start(String name, List<String> jvmOptions, List<String> args) throws IOException {
        return start(name, List.of(), jvmOptions, args);
    }

    /**
     * As {@link #start(String, List, List)}, run through {@code wrapper} (e.g. {@code ip netns exec NAME}, which
     * execs the JVM in place: the returned process is the JVM itself).
     */
    public Process start(String name, List<String> wrapper, List<String> jvmOptions, List<String> args) throws IOException {
        List<String> cmd = new ArrayList<>(wrapper);
        cmd.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED", "-Xmx768m", "-XX:+UseSerialGC"));
        cmd.addAll(jvmOptions);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), mainClass));
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log(name).toFile());
        pb.environment().put("OMP_NUM_THREADS", "1");
        Process p = pb.start();
        started.add(p);
        return p;
    }

    public Path log(String name) {
        return logDir.resolve(name + ".log");
    }

    @Override
    public void close() {
        for (Process p : started) p.destroyForcibly();
        for (Process p : started) {
            try {
                p.waitFor();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
