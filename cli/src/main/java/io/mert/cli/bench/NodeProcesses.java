package io.mert.cli.bench;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** {@code mert} nodes as separate JVM processes of this program, each logging to its own file; all killed on close. */
public final class NodeProcesses implements AutoCloseable {

    private final Path logDir;
    private final String mainClass;
    private final Map<String, Process> started = new LinkedHashMap<>();

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
                "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector",
                "-Xmx768m", "-XX:+UseSerialGC",
                // every collection with its pause, beside the node's log: report() sums them
                "-Xlog:gc:file=" + gcLog(name) + "::filecount=0"));
        cmd.addAll(jvmOptions);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), mainClass));
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log(name).toFile());
        pb.environment().put("OMP_NUM_THREADS", "1");
        Process p = pb.start();
        started.put(name, p);
        return p;
    }

    public Path log(String name) {
        return logDir.resolve(name + ".log");
    }

    Path gcLog(String name) {
        return logDir.resolve(name + ".gc.log");
    }

    /**
     * What a failed run needs to be diagnosed from a CI page: the host's load and memory, each node's state, CPU time,
     * memory and GC pauses, then the last {@code lines} significant lines of each node's log, those named in
     * {@code first} first (a CI page may show only the head of a long message).
     */
    public String report(int lines, String... first) {
        StringBuilder out = new StringBuilder(NodeDiagnostics.host()).append('\n');
        started.forEach((name, p) -> out.append("  ").append(NodeDiagnostics.process(name, p, gcLog(name))).append('\n'));
        java.util.Set<String> order = new java.util.LinkedHashSet<>(List.of(first));
        order.retainAll(started.keySet());
        order.addAll(started.keySet());
        order.forEach(name -> out.append(NodeDiagnostics.tail(name, log(name), lines)));
        return out.toString();
    }

    @Override
    public void close() {
        for (Process p : started.values()) p.destroyForcibly();
        for (Process p : started.values()) {
            try {
                p.waitFor();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
