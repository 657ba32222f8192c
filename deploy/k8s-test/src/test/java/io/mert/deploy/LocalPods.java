package io.mert.deploy;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.VolumeMount;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns a rendered container into a local process, changing only what a pod has and a test host
 * does not: the image's {@code java -jar /opt/mert/mert.jar} becomes this JVM's java with the test
 * classpath, mount paths become directories, {@code $(VAR)} references take the pod's values (pod
 * IP 127.0.0.1), Service DNS names become 127.0.0.1, and each port a free one (per pod, as each
 * pod has its own network namespace; the coordinator's Service port is shared, as its DNS name is).
 */
final class LocalPods {

    static final String IMAGE_JAR = "/opt/mert/mert.jar";

    private final Map<String, String> serviceHosts;
    private final Map<String, Path> mounts;
    private final Map<Integer, Integer> sharedPorts = new HashMap<>();

    /**
     * @param serviceHosts "dns-name:port" of a Service → the port it maps to, shared by every pod
     * @param mounts       mount path in the pod → local directory (same for every pod: shared volumes)
     */
    LocalPods(Map<String, String> serviceHosts, Map<String, Path> mounts) {
        this.serviceHosts = serviceHosts;
        this.mounts = new LinkedHashMap<>();
        mounts.entrySet().stream().sorted(Comparator.comparingInt((Map.Entry<String, Path> e) -> e.getKey().length()).reversed())
                .forEach(e -> this.mounts.put(e.getKey(), e.getValue()));
    }

    /** A pod-local path on this host. */
    String path(String inPod) {
        for (var m : mounts.entrySet()) {
            if (inPod.equals(m.getKey()) || inPod.startsWith(m.getKey() + "/")) {
                return m.getValue() + inPod.substring(m.getKey().length());
            }
        }
        return inPod;
    }

    /** Rewrites every mount path inside a text (the rendered config), in one pass: local paths may contain /tmp. */
    String paths(String text) {
        String alternatives = String.join("|", mounts.keySet().stream().map(java.util.regex.Pattern::quote).toList());
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?<![\\w./-])(" + alternatives + ")(?=/|$|[\\s'\",\\]])",
                java.util.regex.Pattern.MULTILINE).matcher(text);
        return m.replaceAll(r -> java.util.regex.Matcher.quoteReplacement(mounts.get(r.group(1)).toString()));
    }

    record Launch(List<String> command, Map<String, String> env) {
    }

    Launch launch(Container c, String podName, boolean keepHttp) {
        Map<String, String> env = new LinkedHashMap<>();
        for (EnvVar e : c.getEnv()) {
            if (e.getValue() != null) env.put(e.getName(), e.getValue());
            else if (e.getValueFrom() != null && e.getValueFrom().getFieldRef() != null) {
                String field = e.getValueFrom().getFieldRef().getFieldPath();
                env.put(e.getName(), switch (field) {
                    case "status.podIP" -> "127.0.0.1";
                    case "metadata.name" -> podName;
                    default -> throw new IllegalArgumentException("no local value for fieldRef " + field);
                });
            } else throw new IllegalArgumentException("env " + e.getName() + " has neither value nor fieldRef");
        }
        Map<Integer, Integer> podPorts = new HashMap<>();
        List<String> words = new ArrayList<>(c.getCommand());
        words.addAll(c.getArgs());
        List<String> out = new ArrayList<>();
        for (int i = 0; i < words.size(); i++) {
            String w = words.get(i);
            if (i == 0 && w.equals("java")) {
                out.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            } else if (w.equals("-jar") && i + 1 < words.size() && words.get(i + 1).equals(IMAGE_JAR)) {
                out.addAll(List.of("-cp", classPath(), "io.mert.cli.Mert"));
                i++;
            } else if (w.equals("--http") && !keepHttp) {
                // TODO(lead): the CLI on this branch has no --http yet; drop this branch once the HTTP endpoints are merged.
                i++;
            } else {
                out.add(rewrite(expand(w, env), podPorts));
            }
        }
        for (String w : out) {
            if (w.contains("$(") || w.contains(".svc.")) throw new IllegalStateException("unmapped pod reference in '" + w + "'");
        }
        env.replaceAll((k, v) -> paths(v));
        return new Launch(out, env);
    }

    private static String expand(String w, Map<String, String> env) {
        for (var e : env.entrySet()) w = w.replace("$(" + e.getKey() + ")", e.getValue());
        return w;
    }

    private String rewrite(String w, Map<Integer, Integer> podPorts) {
        String mapped = serviceHosts.get(w);
        if (mapped != null) return mapped;
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("^(127\\.0\\.0\\.1|0\\.0\\.0\\.0):(\\d+)$").matcher(w);
        if (m.matches()) return m.group(1) + ":" + podPorts.computeIfAbsent(Integer.parseInt(m.group(2)), p -> freePort());
        if (w.startsWith("-D") && w.contains("=/")) {
            int eq = w.indexOf('=');
            return w.substring(0, eq + 1) + path(w.substring(eq + 1));
        }
        return w.startsWith("/") ? path(w) : w;
    }

    /** The coordinator Service's address as every pod sees it: 127.0.0.1 and one free port. */
    static Map<String, String> service(String dnsAndPort) {
        return Map.of(dnsAndPort, "127.0.0.1:" + freePort());
    }

    /** The test classpath without the chart-testing libraries (their JNA 5 would shadow ND4J's JNA 4). */
    static String classPath() {
        return String.join(java.io.File.pathSeparator, java.util.Arrays.stream(System.getProperty("java.class.path")
                        .split(java.io.File.pathSeparator))
                .filter(p -> !p.contains("helm-java") && !p.contains("jna-jpms") && !p.contains("jna-platform-jpms")
                        && !p.contains("io" + java.io.File.separator + "fabric8"))
                .toList());
    }

    static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            s.setReuseAddress(true);
            return s.getLocalPort();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    static Map<String, Path> directoriesFor(Container c, Path root) throws IOException {
        Map<String, Path> m = new LinkedHashMap<>();
        for (VolumeMount v : c.getVolumeMounts()) {
            if (v.getMountPath().equals("/dev/shm")) continue; // the host's /dev/shm is memory-backed already
            Path dir = root.resolve(v.getName());
            Files.createDirectories(dir);
            m.put(v.getMountPath(), dir);
        }
        return m;
    }
}
