package io.mert.deploy;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.mert.model.config.ConfigTree;
import io.mert.model.config.TrainConfig;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static io.mert.deploy.RenderedChart.FULLNAME;
import static io.mert.deploy.RenderedChart.container;
import static io.mert.deploy.RenderedChart.values;
import static org.junit.jupiter.api.Assertions.*;

/** `helm lint` and `helm template` of deploy/k8s with real Helm, over several value sets. */
class ChartTemplateTest {

    @Test
    void lintPasses() {
        LintResult r = new Helm(RenderedChart.chartDir()).lint().strict().call();
        assertFalse(r.isFailed(), String.join("\n", r.getMessages()));
    }

    @Test
    void defaultValuesRenderValidObjects() throws Exception {
        RenderedChart c = RenderedChart.render(Map.of());
        assertEquals(List.of(), ApiValidation.validate(c.objects()), c.yaml());
        assertEquals(1, c.all(ServiceAccount.class).size());
        assertEquals(1, c.all(ConfigMap.class).size());
        assertEquals(2, c.all(Service.class).size());
        assertEquals(2, c.all(StatefulSet.class).size());
        assertEquals(3, c.all(PersistentVolumeClaim.class).size());
        assertEquals(1, c.all(PodDisruptionBudget.class).size(), "workers only: a one-pod coordinator PDB would block drains");
        assertEquals(1, c.coordinator().getSpec().getReplicas());
        assertEquals(2, c.workers().getSpec().getReplicas());
        assertEquals("keep", c.one(PersistentVolumeClaim.class, FULLNAME + "-run").getMetadata().getAnnotations()
                .get("helm.sh/resource-policy"), "uninstall must not delete the checkpoints");
        checkInvariants(c, 2, false);
        assertTrue(args(c.coordinator()).contains("--resume-if-present"));
        // soft anti-affinity by default
        var anti = c.workers().getSpec().getTemplate().getSpec().getAffinity().getPodAntiAffinity();
        assertEquals("kubernetes.io/hostname", anti.getPreferredDuringSchedulingIgnoredDuringExecution().get(0)
                .getPodAffinityTerm().getTopologyKey());
        assertEquals(c.workers().getSpec().getSelector().getMatchLabels(), anti.getPreferredDuringSchedulingIgnoredDuringExecution()
                .get(0).getPodAffinityTerm().getLabelSelector().getMatchLabels());
    }

    @Test
    void clusterConnectionsAreMutualTlsFromTheSecretOrPlaintextOnlyByExplicitChoice() throws Exception {
        RenderedChart tls = RenderedChart.render(Map.of());
        for (StatefulSet s : List.of(tls.coordinator(), tls.workers())) {
            Container c = container(s);
            assertEquals(Optional.of("/etc/mert-tls"), argAfter(c, "--tls-dir"), s.getMetadata().getName());
            assertFalse(args(s).contains("--insecure-plaintext"));
            Volume v = s.getSpec().getTemplate().getSpec().getVolumes().stream().filter(x -> x.getName().equals("tls"))
                    .findFirst().orElseThrow();
            assertEquals(RenderedChart.TLS_SECRET, v.getSecret().getSecretName());
            VolumeMount m = c.getVolumeMounts().stream().filter(x -> x.getName().equals("tls")).findFirst().orElseThrow();
            assertEquals("/etc/mert-tls", m.getMountPath());
            assertTrue(m.getReadOnly(), "the certificates are mounted read-only");
        }

        RenderedChart plain = RenderedChart.render(values("tls.insecurePlaintext", true));
        for (StatefulSet s : List.of(plain.coordinator(), plain.workers())) {
            assertTrue(args(s).contains("--insecure-plaintext"), s.getMetadata().getName());
            assertFalse(args(s).contains("--tls-dir"));
            assertTrue(s.getSpec().getTemplate().getSpec().getVolumes().stream().noneMatch(x -> x.getName().equals("tls")));
        }

        Exception neither = assertThrows(Exception.class, () -> RenderedChart.renderExactly(Map.of()));
        assertTrue(neither.getMessage().contains("set tls.secretName"), neither.getMessage());
        Exception both = assertThrows(Exception.class, () -> RenderedChart.render(values("tls.secretName", "mert-tls",
                "tls.insecurePlaintext", true)));
        assertTrue(both.getMessage().contains("exclude each other"), both.getMessage());
    }

    @Test
    void oneCpuWorker() throws Exception {
        RenderedChart c = RenderedChart.render(values("workers.replicas", 1));
        assertEquals(List.of(), ApiValidation.validate(c.objects()), c.yaml());
        checkInvariants(c, 1, false);
    }

    @Test
    void eightGpuWorkersWithHardAntiAffinityAndGpuNodes() throws Exception {
        RenderedChart c = RenderedChart.render(values("workers.replicas", 8, "gpu.enabled", true,
                "workers.podAntiAffinity", "hard", "workers.nodeSelector", Map.of("accelerator", "a100"),
                "image.repository", "registry.example/mert", "image.tag", "1.2.3"));
        assertEquals(List.of(), ApiValidation.validate(c.objects()), c.yaml());
        checkInvariants(c, 8, true);
        PodSpec pod = c.workers().getSpec().getTemplate().getSpec();
        assertEquals("registry.example/mert:1.2.3-cuda", container(c.workers()).getImage());
        assertEquals("registry.example/mert:1.2.3", container(c.coordinator()).getImage(), "the coordinator needs no CUDA");
        assertEquals(Map.of("accelerator", "a100"), pod.getNodeSelector());
        assertTrue(pod.getTolerations().stream().anyMatch(t -> "nvidia.com/gpu".equals(t.getKey()) && "NoSchedule".equals(t.getEffect())));
        assertEquals("kubernetes.io/hostname", pod.getAffinity().getPodAntiAffinity()
                .getRequiredDuringSchedulingIgnoredDuringExecution().get(0).getTopologyKey());
    }

    @Test
    void existingClaimsAreMountedInsteadOfNewOnes() throws Exception {
        RenderedChart c = RenderedChart.render(values("volumes.run.existingClaim", "team-runs",
                "volumes.dataset.existingClaim", "music-24k", "volumes.run.mountPath", "/runs/exp7",
                "volumes.dataset.mountPath", "/datasets/music", "volumes.dataset.manifestSubPath", "manifests/v2"));
        assertEquals(List.of(), ApiValidation.validate(c.objects()), c.yaml());
        assertEquals(List.of(FULLNAME + "-labels"), c.all(PersistentVolumeClaim.class).stream().map(p -> p.getMetadata().getName()).toList());
        for (StatefulSet s : c.all(StatefulSet.class)) {
            assertEquals("team-runs", volume(s, "run").getPersistentVolumeClaim().getClaimName());
            assertEquals("music-24k", volume(s, "dataset").getPersistentVolumeClaim().getClaimName());
        }
        Map<String, Object> cfg = c.trainConfig();
        assertEquals("/datasets/music/manifests/v2", section(cfg, "task").get("data"));
        assertEquals("/runs/exp7", section(cfg, "checkpoint").get("save_dir"));
        checkInvariants(c, 2, false);
    }

    @Test
    void resumeCanBeSwitchedOffAndTrainingKeysComeFromValues() throws Exception {
        RenderedChart c = RenderedChart.render(values("coordinator.resumeIfPresent", false,
                "config.optimization.max_update", 1234, "config.model.preset", "tiny",
                "config.task.data", "/somewhere/else", "config.distributed_training.distributed_world_size", 99));
        assertFalse(args(c.coordinator()).contains("--resume-if-present"));
        TrainConfig cfg = TrainConfig.from(ConfigTree.parse(c.trainConfigText(), "rendered ConfigMap"));
        assertEquals(1234, cfg.maxUpdate());
        assertEquals("tiny", cfg.tree().get("model.preset").asText());
        assertEquals(Path.of("/mert/data/manifest"), cfg.manifestDir(), "the mount decides task.data, not a value");
        assertEquals(2, cfg.worldSize(), "workers.replicas decides the world size");
        checkInvariants(c, 2, false);
    }

    /** What must hold for every value set. */
    private static void checkInvariants(RenderedChart c, int workers, boolean gpu) throws Exception {
        StatefulSet coord = c.coordinator(), work = c.workers();
        Container cc = container(coord), wc = container(work);
        assertEquals(workers, work.getSpec().getReplicas());

        // the rendered config is a valid mert training config whose paths are the mounts
        TrainConfig cfg = TrainConfig.from(ConfigTree.parse(c.trainConfigText(), "rendered ConfigMap"));
        assertEquals(workers, cfg.worldSize());
        for (StatefulSet s : List.of(coord, work)) {
            Container k = container(s);
            assertTrue(cfg.manifestDir().startsWith(mountPath(k, "dataset")), "task.data under the dataset mount");
            assertEquals(Path.of(mountPath(k, "labels")), cfg.labelDir());
            assertEquals(mountPath(k, "run"), cfg.tree().get("checkpoint.save_dir").asText(),
                    "workers write checkpoints into the run dir: same path in every pod");
            assertEquals("/etc/mert", mountPath(k, "config"));
            assertEquals("/tmp", mountPath(k, "tmp"));
            assertNotNull(volume(s, "tmp").getEmptyDir(), "writable /tmp under a read-only root");
            assertNotNull(volume(s, "config").getConfigMap());
            assertEquals(FULLNAME + "-config", volume(s, "config").getConfigMap().getName());
            assertEquals(Path.of("/etc/mert/config.yaml"), Path.of(argAfter(k, "--config").orElse("/etc/mert/config.yaml")));

            // security
            var psc = s.getSpec().getTemplate().getSpec().getSecurityContext();
            assertTrue(psc.getRunAsNonRoot());
            assertNotEquals(0L, psc.getRunAsUser());
            assertFalse(k.getSecurityContext().getAllowPrivilegeEscalation());
            assertTrue(k.getSecurityContext().getReadOnlyRootFilesystem());
            assertEquals(List.of("ALL"), k.getSecurityContext().getCapabilities().getDrop());

            // probes on the HTTP endpoint the process serves
            int http = Integer.parseInt(argAfter(k, "--http").orElseThrow().replaceFirst(".*:", ""));
            ContainerPort httpPort = port(k, "http");
            assertEquals(http, httpPort.getContainerPort());
            assertEquals("0.0.0.0", argAfter(k, "--http").orElseThrow().replaceFirst(":.*", ""), "probes come from the kubelet: listen on all interfaces");
            assertProbe(k.getLivenessProbe(), "/healthz");
            assertProbe(k.getReadinessProbe(), "/readyz");
            assertProbe(k.getStartupProbe(), "/healthz");
            // java -jar: the image's fat jar, with the export ND4J needs also given explicitly
            assertEquals(List.of("java"), k.getCommand());
            assertTrue(k.getArgs().contains("java.base/jdk.internal.misc=ALL-UNNAMED"));
            assertEquals("/opt/mert/mert.jar", argAfter(k, "-jar").orElseThrow());
            assertEquals(Map.of("prometheus.io/scrape", "true", "prometheus.io/path", "/metrics", "prometheus.io/port",
                    String.valueOf(http)), subMap(s.getSpec().getTemplate().getMetadata().getAnnotations(), "prometheus.io/"));
        }
        assertEquals("coordinator", cc.getArgs().get(cc.getArgs().indexOf("/opt/mert/mert.jar") + 1));
        assertEquals("worker", wc.getArgs().get(wc.getArgs().indexOf("/opt/mert/mert.jar") + 1));
        assertEquals(mountPath(cc, "run"), argAfter(cc, "--run-dir").orElseThrow());

        // cluster formation through the coordinator's stable DNS name
        Service cs = c.one(Service.class, coord.getSpec().getServiceName());
        Service ws = c.one(Service.class, work.getSpec().getServiceName());
        for (Service s : List.of(cs, ws)) {
            assertEquals("None", s.getSpec().getClusterIP(), "headless: DNS names are pod IPs");
            assertTrue(s.getSpec().getPublishNotReadyAddresses(), "workers must resolve the coordinator before it is ready");
        }
        assertEquals(coord.getSpec().getSelector().getMatchLabels(), cs.getSpec().getSelector());
        assertEquals(work.getSpec().getSelector().getMatchLabels(), ws.getSpec().getSelector());
        String dns = coord.getMetadata().getName() + "-0." + cs.getMetadata().getName() + "." + RenderedChart.NAMESPACE + ".svc.cluster.local";
        int pekko = port(cc, "pekko").getContainerPort();
        assertEquals(dns + ":" + pekko, argAfter(cc, "--bind").orElseThrow(), "the coordinator advertises its DNS name");
        assertEquals("0.0.0.0", argAfter(cc, "--listen-host").orElseThrow(), "and listens on all interfaces");
        assertEquals(dns + ":" + pekko, argAfter(wc, "--join").orElseThrow(), "workers' seed node = the advertised address");
        assertEquals("$(POD_IP):" + port(wc, "pekko").getContainerPort(), argAfter(wc, "--bind").orElseThrow());
        assertEquals("status.podIP", wc.getEnv().stream().filter(e -> e.getName().equals("POD_IP")).findFirst().orElseThrow()
                .getValueFrom().getFieldRef().getFieldPath());
        assertEquals("TCP", port(cc, "pekko").getProtocol());
        assertEquals(servicePort(cs, "pekko").getPort(), pekko);

        // the Aeron data plane: UDP, declared on the container and the headless Service, at the --data-plane port
        ContainerPort aeron = port(wc, "aeron");
        assertEquals("UDP", aeron.getProtocol());
        assertEquals("$(POD_IP):" + aeron.getContainerPort(), argAfter(wc, "--data-plane").orElseThrow());
        assertEquals("UDP", servicePort(ws, "aeron").getProtocol());
        assertEquals(aeron.getContainerPort(), servicePort(ws, "aeron").getPort());
        Volume shm = volume(work, "dshm");
        assertEquals("Memory", shm.getEmptyDir().getMedium());
        assertEquals(new Quantity("1Gi"), shm.getEmptyDir().getSizeLimit());
        assertEquals("/dev/shm", mountPath(wc, "dshm"));

        // GPUs: limits and device only when enabled, never on the coordinator
        Map<String, Quantity> limits = wc.getResources().getLimits();
        assertEquals(gpu, limits.containsKey("nvidia.com/gpu"));
        if (gpu) assertEquals(new Quantity("1"), limits.get("nvidia.com/gpu"));
        assertEquals(gpu ? "cuda:0" : "cpu", argAfter(wc, "--device").orElseThrow());
        assertEquals(gpu, wc.getImage().endsWith("-cuda"));
        assertFalse(cc.getResources().getLimits().keySet().stream().anyMatch(k -> k.contains("gpu")));
        assertNotNull(cc.getResources().getRequests().get("memory"));
    }

    private static void assertProbe(Probe p, String path) {
        assertNotNull(p, "probe " + path);
        assertEquals(path, p.getHttpGet().getPath());
        assertEquals("http", p.getHttpGet().getPort().getStrVal());
    }

    static List<String> args(StatefulSet s) {
        return container(s).getArgs();
    }

    static Optional<String> argAfter(Container c, String option) {
        int i = c.getArgs().indexOf(option);
        return i < 0 || i + 1 >= c.getArgs().size() ? Optional.empty() : Optional.of(c.getArgs().get(i + 1));
    }

    private static String mountPath(Container c, String volume) {
        return c.getVolumeMounts().stream().filter(m -> m.getName().equals(volume)).map(VolumeMount::getMountPath)
                .findFirst().orElseThrow(() -> new AssertionError(c.getName() + " does not mount " + volume));
    }

    private static Volume volume(StatefulSet s, String name) {
        return s.getSpec().getTemplate().getSpec().getVolumes().stream().filter(v -> v.getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError(s.getMetadata().getName() + " has no volume " + name));
    }

    private static ContainerPort port(Container c, String name) {
        return c.getPorts().stream().filter(p -> name.equals(p.getName())).findFirst()
                .orElseThrow(() -> new AssertionError(c.getName() + " declares no port " + name));
    }

    private static io.fabric8.kubernetes.api.model.ServicePort servicePort(Service s, String name) {
        return s.getSpec().getPorts().stream().filter(p -> name.equals(p.getName())).findFirst()
                .orElseThrow(() -> new AssertionError(s.getMetadata().getName() + " has no port " + name));
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> section(Map<String, Object> cfg, String key) {
        return (Map<String, Object>) cfg.get(key);
    }

    private static Map<String, String> subMap(Map<String, String> m, String prefix) {
        return m.entrySet().stream().filter(e -> e.getKey().startsWith(prefix))
                .collect(java.util.stream.Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue));
    }
}
