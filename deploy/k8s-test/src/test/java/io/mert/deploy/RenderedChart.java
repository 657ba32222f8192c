package io.mert.deploy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.marcnuri.helm.Helm;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.KubernetesResource;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The chart in deploy/k8s rendered by real Helm ({@code helm template}, through helm-java's native
 * library) and parsed into the Kubernetes API types of the fabric8 model.
 */
record RenderedChart(String yaml, List<HasMetadata> objects) {

    static final String RELEASE = "run1";
    static final String NAMESPACE = "music";
    static final String FULLNAME = RELEASE + "-mert-trainer";
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final KubernetesSerialization K8S = new KubernetesSerialization();

    static Path chartDir() {
        String dir = System.getProperty("mert.chart.dir");
        Path p = dir != null ? Path.of(dir) : Path.of("..", "k8s");
        if (!Files.isRegularFile(p.resolve("Chart.yaml"))) throw new IllegalStateException("no chart at " + p.toAbsolutePath());
        return p;
    }

    /** Renders the chart with {@code values} (nested maps, as in a values file) over its defaults. */
    static RenderedChart render(Map<String, Object> values) throws IOException {
        return renderExactly(withTlsSecret(values));
    }

    /** The tests' installs name a TLS Secret, as a real install must, unless they choose the transport themselves. */
    static Map<String, Object> withTlsSecret(Map<String, Object> values) {
        if (values.containsKey("tls")) return values;
        Map<String, Object> v = new java.util.LinkedHashMap<>(values);
        v.put("tls", Map.of("secretName", TLS_SECRET));
        return v;
    }

    static final String TLS_SECRET = "mert-tls";

    /** Renders with exactly {@code values} over the chart's defaults. */
    static RenderedChart renderExactly(Map<String, Object> values) throws IOException {
        Path file = Files.createTempFile("mert-values", ".yaml");
        try {
            YAML.writeValue(file.toFile(), values);
            String out = new Helm(chartDir()).template().withName(RELEASE).withNamespace(NAMESPACE)
                    .withValuesFile(file).call();
            return new RenderedChart(out, parse(out));
        } finally {
            Files.deleteIfExists(file);
        }
    }

    private static List<HasMetadata> parse(String yaml) {
        List<HasMetadata> out = new ArrayList<>();
        for (String doc : yaml.split("(?m)^---\\s*$")) {
            if (doc.lines().allMatch(l -> l.isBlank() || l.startsWith("#"))) continue;
            KubernetesResource r = K8S.unmarshal(doc);
            if (!(r instanceof HasMetadata h)) throw new AssertionError("not a Kubernetes object:\n" + doc);
            out.add(h);
        }
        return out;
    }

    <T extends HasMetadata> List<T> all(Class<T> type) {
        return objects.stream().filter(type::isInstance).map(type::cast).toList();
    }

    <T extends HasMetadata> T one(Class<T> type, String name) {
        return all(type).stream().filter(o -> o.getMetadata().getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no " + type.getSimpleName() + " " + name + " in:\n" + yaml));
    }

    StatefulSet coordinator() {
        return one(StatefulSet.class, FULLNAME + "-coordinator");
    }

    StatefulSet workers() {
        return one(StatefulSet.class, FULLNAME + "-worker");
    }

    static Container container(StatefulSet s) {
        List<Container> cs = s.getSpec().getTemplate().getSpec().getContainers();
        if (cs.size() != 1) throw new AssertionError(s.getMetadata().getName() + " has " + cs.size() + " containers");
        return cs.get(0);
    }

    /** The training config the ConfigMap carries, as a tree. */
    Map<String, Object> trainConfig() throws IOException {
        String text = one(ConfigMap.class, FULLNAME + "-config").getData().get("config.yaml");
        @SuppressWarnings("unchecked")
        Map<String, Object> m = YAML.readValue(text, Map.class);
        return m;
    }

    String trainConfigText() {
        return one(ConfigMap.class, FULLNAME + "-config").getData().get("config.yaml");
    }

    /** Nested maps from key paths: {@code values("workers.replicas", 8, "gpu.enabled", true)}. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> values(Object... pathsAndValues) {
        Map<String, Object> root = new java.util.LinkedHashMap<>();
        for (int i = 0; i < pathsAndValues.length; i += 2) {
            String[] keys = ((String) pathsAndValues[i]).split("\\.");
            Map<String, Object> m = root;
            for (int k = 0; k < keys.length - 1; k++) {
                m = (Map<String, Object>) m.computeIfAbsent(keys[k], x -> new java.util.LinkedHashMap<String, Object>());
            }
            m.put(keys[keys.length - 1], pathsAndValues[i + 1]);
        }
        return root;
    }
}
