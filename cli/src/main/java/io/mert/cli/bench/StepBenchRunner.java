package io.mert.cli.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Runs the two sides of {@code mert bench step} one after the other (never together: they would share
 * the cores): our step in a fresh JVM, then PyTorch's on the same weights and batch, which our side wrote.
 */
public final class StepBenchRunner {

    public static final String TORCH_SCRIPT = "tools/bench/torch_step.py";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path workDir;
    private final Duration timeout;

    public StepBenchRunner(Path workDir, Duration timeout) {
        this.workDir = workDir;
        this.timeout = timeout;
    }

    /**
     * The young generation that the {@code mert} launcher gives the commands that train, and the Helm chart its
     * workers: an unbounded young generation grows to hold short-lived objects between collections, and its pages stay
     * resident (95M step before the step replay: peak heap 313-686 MiB, RSS +300-800 MiB; tiny step with the replay: RSS
     * 312 MiB at 96 MiB, 268 MiB at 48 MiB). Minor collections of nearly all-dead objects cost about a millisecond.
     */
    static final String YOUNG_GENERATION = "-Xmn48m";

    public StepBenchSide runOurs(StepBenchSpec spec, long heapBytes) throws IOException, InterruptedException {
        spec.write(workDir.resolve("spec.json"));
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new ArrayList<>(List.of(java,
                "-Xmx" + Math.max(256, heapBytes >> 20) + "m", "-XX:+UseParallelGC", YOUNG_GENERATION,
                // GELU on the Vector API, as the commands that train run it (the mert launcher gives them the module)
                "--add-modules", "jdk.incubator.vector",
                // ND4J's off-heap arrays: let them grow to what the machine has, not to the default of -Xmx
                "-Dorg.bytedeco.javacpp.maxbytes=0", "-Dorg.bytedeco.javacpp.maxphysicalbytes=0"));
        // the step arena switches (MertNetwork) reach the measured JVM, so the settings can be compared
        for (String memorySwitch : List.of("mert.stepArena", "mert.stepLiveness", "mert.stepReplay")) {
            String value = System.getProperty(memorySwitch);
            if (value != null) cmd.add("-D" + memorySwitch + "=" + value);
        }
        // options to compare (a collector, a young generation): later options win over the ones above
        String extra = System.getenv("MERT_BENCH_JAVA_OPTS");
        if (extra != null && !extra.isBlank()) {
            List<String> options = List.of(extra.trim().split("\\s+"));
            if (options.stream().anyMatch(o -> o.matches("-XX:\\+Use\\w+GC"))) cmd.remove("-XX:+UseParallelGC");
            cmd.addAll(options);
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), StepBenchMain.class.getName(), workDir.toString()));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("OMP_NUM_THREADS", Integer.toString(spec.threads()));
        pb.environment().put("OMP_WAIT_POLICY", ourWaitPolicy());
        String out = runForOutput(pb, "our step benchmark");
        for (String line : out.split("\n")) {
            if (line.startsWith(StepBenchMain.RESULT)) {
                JsonNode o = JSON.readTree(line.substring(StepBenchMain.RESULT.length()));
                return StepBenchSide.fromJson("mert (SameDiff, nd4j-native)", o, ourWaitPolicy(),
                        "build " + Math.round(o.path("build_ms").asDouble()) + " ms, " + o.path("parameters").asLong() + " parameters, "
                                + (o.path("arena_bytes").asLong() >> 20) + " MiB of step arrays held for reuse, "
                                + (o.path("heap_allocated_per_step_bytes").asLong() >> 10) + " KiB of Java heap allocated per step");
            }
        }
        throw new IOException("our step benchmark printed no result; its output:\n" + out);
    }

    /**
     * The OpenMP wait policy our side runs with: the caller's {@code OMP_WAIT_POLICY}, else PASSIVE, which
     * the {@code mert} launcher and the images set too (see {@link #TORCH_DEFAULT_POLICY} for why).
     */
    public static String ourWaitPolicy() {
        String set = System.getenv("OMP_WAIT_POLICY");
        return set == null || set.isBlank() || "1".equals(System.getenv("MERT_OMP_WAIT_POLICY_DEFAULTED")) ? "PASSIVE" : set.trim();
    }

    /**
     * Runs the peer with {@code OMP_WAIT_POLICY} unset when {@code waitPolicy} is this value (libgomp's own
     * default, what a PyTorch user gets), else with the given policy. Both matter: libgomp's default spinning
     * takes the core that OpenBLAS's threads need and slowed PyTorch's 95M step about 1.9x here, while on the
     * small preset spinning made PyTorch faster.
     */
    public static final String TORCH_DEFAULT_POLICY = "default";

    /** Empty with the reason when Python, torch or the script is missing. */
    public Optional<StepBenchSide> runTorch(String python, Path script, String waitPolicy, StringBuilder skipped)
            throws IOException, InterruptedException {
        if (script == null || !Files.isRegularFile(script)) {
            skipped.append("peer script ").append(TORCH_SCRIPT).append(" not found (run from the checkout or pass --torch-script)");
            return Optional.empty();
        }
        Process probe;
        try {
            probe = new ProcessBuilder(python, "-c", "import torch, torchaudio").redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        } catch (IOException e) {
            skipped.append("no Python interpreter '").append(python).append("'");
            return Optional.empty();
        }
        if (!probe.waitFor(120, TimeUnit.SECONDS) || probe.exitValue() != 0) {
            probe.destroyForcibly();
            skipped.append(python).append(" cannot import torch and torchaudio (on Debian: apt-get install python3-torch python3-torchaudio)");
            return Optional.empty();
        }
        ProcessBuilder pb = new ProcessBuilder(python, script.toString(), workDir.toString());
        // The launcher's default is ours, not the user's: the peer gets the environment the user gave
        boolean defaulted = "1".equals(System.getenv("MERT_OMP_WAIT_POLICY_DEFAULTED"));
        if (defaulted) pb.environment().remove("OMP_WAIT_POLICY");
        pb.environment().remove("MERT_OMP_WAIT_POLICY_DEFAULTED");
        if (TORCH_DEFAULT_POLICY.equals(waitPolicy)) pb.environment().remove("OMP_WAIT_POLICY");
        else pb.environment().put("OMP_WAIT_POLICY", waitPolicy);
        String policy = pb.environment().getOrDefault("OMP_WAIT_POLICY", "unset");
        String out = runForOutput(pb, "the PyTorch step benchmark");
        for (String line : out.split("\n")) {
            if (line.startsWith("{")) {
                JsonNode o = JSON.readTree(line);
                return Optional.of(StepBenchSide.fromJson("pytorch (torchaudio wav2vec2, CPU)", o, policy,
                        "torch " + o.path("torch").asText() + ", " + o.path("threads").asInt() + " threads"));
            }
        }
        throw new IOException("the PyTorch step benchmark printed no result; its output:\n" + out);
    }

    private String runForOutput(ProcessBuilder pb, String what) throws IOException, InterruptedException {
        Path log = Files.createTempFile(workDir, "side-", ".log");
        Process p = pb.redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(timeout.toSeconds(), TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            throw new IOException(what + " did not finish within " + timeout.toSeconds() + " s; its log: " + log);
        }
        String out = Files.readString(log, StandardCharsets.UTF_8);
        if (p.exitValue() != 0) throw new IOException(what + " failed (exit " + p.exitValue() + "):\n" + out.strip());
        return out;
    }

    /** The peer script: in the working directory's checkout, or in the checkout this program was built in. */
    public static Optional<Path> findTorchScript() {
        return GlooBench.findScript().map(gloo -> gloo.resolveSibling(Path.of(TORCH_SCRIPT).getFileName()))
                .filter(Files::isRegularFile);
    }
}
