package io.mert.deploy;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Checks rendered objects the way the API server would reject them: every field must be one the
 * Kubernetes type declares, with the declared type (fabric8 keeps unknown or mistyped fields in
 * "additionalProperties", so a non-empty one is a typo or a wrong type), required fields are set,
 * names are DNS labels, selectors select the pod template, probes, mounts and $(VAR) references
 * resolve. Returns the list of problems, empty when valid.
 */
final class ApiValidation {

    private static final Pattern DNS_SUBDOMAIN = Pattern.compile("[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?");
    private static final Pattern DNS_LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");
    private static final Pattern PORT_NAME = Pattern.compile("[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?");
    private static final Pattern VAR_REF = Pattern.compile("\\$\\(([A-Za-z_][A-Za-z0-9_]*)\\)");

    private final List<String> problems = new ArrayList<>();

    private ApiValidation() {
    }

    static List<String> validate(List<HasMetadata> objects) {
        ApiValidation v = new ApiValidation();
        Set<String> seen = new HashSet<>();
        for (HasMetadata o : objects) {
            String id = o.getKind() + "/" + (o.getMetadata() == null ? "?" : o.getMetadata().getName());
            v.check(o.getApiVersion() != null && o.getKind() != null, id + ": apiVersion and kind are required");
            v.check(o.getMetadata() != null && o.getMetadata().getName() != null
                    && DNS_SUBDOMAIN.matcher(o.getMetadata().getName()).matches(), id + ": metadata.name must be a DNS subdomain");
            v.check(seen.add(id), id + ": rendered twice");
            v.noUnknownFields(o, id, new IdentityHashMap<>());
            if (o instanceof StatefulSet s) v.statefulSet(s, id);
            if (o instanceof Service s) v.service(s, id);
            if (o instanceof PersistentVolumeClaim c) v.claim(c, id);
            if (o instanceof PodDisruptionBudget p) {
                v.check(p.getSpec().getSelector() != null, id + ": spec.selector is required");
                v.check((p.getSpec().getMinAvailable() == null) != (p.getSpec().getMaxUnavailable() == null),
                        id + ": exactly one of minAvailable and maxUnavailable");
            }
        }
        return v.problems;
    }

    private void check(boolean ok, String problem) {
        if (!ok) problems.add(problem);
    }

    private void statefulSet(StatefulSet s, String id) {
        var spec = s.getSpec();
        check(spec.getServiceName() != null, id + ": spec.serviceName is required");
        check(spec.getSelector() != null && spec.getSelector().getMatchLabels() != null, id + ": spec.selector.matchLabels is required");
        Map<String, String> podLabels = spec.getTemplate().getMetadata().getLabels();
        check(podLabels != null && podLabels.entrySet().containsAll(spec.getSelector().getMatchLabels().entrySet()),
                id + ": spec.selector does not select the pod template's labels");
        check(spec.getReplicas() != null && spec.getReplicas() >= 0, id + ": spec.replicas must be >= 0");
        pod(spec.getTemplate().getSpec(), id);
    }

    private void pod(PodSpec pod, String id) {
        check(pod.getContainers() != null && !pod.getContainers().isEmpty(), id + ": no containers");
        Set<String> volumes = pod.getVolumes() == null ? Set.of()
                : pod.getVolumes().stream().map(Volume::getName).collect(Collectors.toSet());
        check(pod.getVolumes() == null || volumes.size() == pod.getVolumes().size(), id + ": duplicate volume names");
        for (Volume vol : pod.getVolumes() == null ? List.<Volume>of() : pod.getVolumes()) {
            check(DNS_LABEL.matcher(vol.getName()).matches(), id + ": volume name " + vol.getName());
            int sources = (vol.getEmptyDir() != null ? 1 : 0) + (vol.getConfigMap() != null ? 1 : 0)
                    + (vol.getPersistentVolumeClaim() != null ? 1 : 0) + (vol.getSecret() != null ? 1 : 0)
                    + (vol.getHostPath() != null ? 1 : 0);
            check(sources == 1, id + ": volume " + vol.getName() + " must have exactly one source");
            if (vol.getPersistentVolumeClaim() != null) {
                check(vol.getPersistentVolumeClaim().getClaimName() != null, id + ": volume " + vol.getName() + " has no claimName");
            }
        }
        for (Container c : pod.getContainers()) {
            String cid = id + " container " + c.getName();
            check(c.getName() != null && DNS_LABEL.matcher(c.getName()).matches(), cid + ": name must be a DNS label");
            check(c.getImage() != null && !c.getImage().isBlank() && !c.getImage().endsWith(":"), cid + ": image is required, with a tag");
            Set<String> portNames = new HashSet<>();
            for (ContainerPort p : c.getPorts() == null ? List.<ContainerPort>of() : c.getPorts()) {
                check(p.getContainerPort() != null && p.getContainerPort() > 0 && p.getContainerPort() < 65536, cid + ": port number");
                check(p.getName() == null || PORT_NAME.matcher(p.getName()).matches(), cid + ": port name " + p.getName() + " is not an IANA_SVC_NAME");
                check(p.getProtocol() == null || Set.of("TCP", "UDP", "SCTP").contains(p.getProtocol()), cid + ": protocol " + p.getProtocol());
                if (p.getName() != null) check(portNames.add(p.getName()), cid + ": duplicate port name " + p.getName());
            }
            for (Probe probe : new Probe[]{c.getLivenessProbe(), c.getReadinessProbe(), c.getStartupProbe()}) {
                if (probe == null || probe.getHttpGet() == null) continue;
                var port = probe.getHttpGet().getPort();
                check(port != null && (port.getIntVal() != null || portNames.contains(port.getStrVal())),
                        cid + ": a probe names port " + port + " that the container does not declare");
                check(probe.getHttpGet().getPath() != null && probe.getHttpGet().getPath().startsWith("/"), cid + ": probe path");
            }
            Set<String> mountPaths = new HashSet<>();
            for (VolumeMount m : c.getVolumeMounts() == null ? List.<VolumeMount>of() : c.getVolumeMounts()) {
                check(volumes.contains(m.getName()), cid + ": mount of undeclared volume " + m.getName());
                check(m.getMountPath() != null && m.getMountPath().startsWith("/"), cid + ": mountPath must be absolute");
                check(mountPaths.add(m.getMountPath()), cid + ": two mounts at " + m.getMountPath());
            }
            Set<String> env = c.getEnv() == null ? Set.of() : c.getEnv().stream().map(EnvVar::getName).collect(Collectors.toSet());
            List<String> words = new ArrayList<>();
            if (c.getCommand() != null) words.addAll(c.getCommand());
            if (c.getArgs() != null) words.addAll(c.getArgs());
            for (String w : words) {
                Matcher m = VAR_REF.matcher(w);
                while (m.find()) check(env.contains(m.group(1)), cid + ": $(" + m.group(1) + ") is not in the container's env");
            }
        }
    }

    private void service(Service s, String id) {
        check(s.getSpec().getSelector() != null && !s.getSpec().getSelector().isEmpty(), id + ": no selector");
        check(s.getSpec().getPorts() != null && !s.getSpec().getPorts().isEmpty(), id + ": no ports");
        Set<String> names = new HashSet<>();
        for (ServicePort p : s.getSpec().getPorts()) {
            check(p.getName() != null && PORT_NAME.matcher(p.getName()).matches() && names.add(p.getName()),
                    id + ": ports of a multi-port Service need unique IANA names");
            check(p.getPort() != null && p.getPort() > 0 && p.getPort() < 65536, id + ": port number");
        }
    }

    private void claim(PersistentVolumeClaim c, String id) {
        check(c.getSpec().getAccessModes() != null && !c.getSpec().getAccessModes().isEmpty(), id + ": accessModes required");
        check(c.getSpec().getResources() != null && c.getSpec().getResources().getRequests() != null
                && c.getSpec().getResources().getRequests().get("storage") != null, id + ": resources.requests.storage required");
    }

    /** Walks the typed object graph; any non-empty additionalProperties is a field the API type does not have. */
    private void noUnknownFields(Object o, String where, IdentityHashMap<Object, Boolean> visited) {
        if (o == null || visited.put(o, true) != null) return;
        if (o instanceof Collection<?> c) {
            int i = 0;
            for (Object e : c) noUnknownFields(e, where + "[" + i++ + "]", visited);
            return;
        }
        if (o instanceof Map<?, ?> m) {
            for (var e : m.entrySet()) noUnknownFields(e.getValue(), where + "." + e.getKey(), visited);
            return;
        }
        if (!o.getClass().getName().startsWith("io.fabric8.kubernetes.api.model")) return;
        for (Method g : o.getClass().getMethods()) {
            if (g.getParameterCount() != 0 || Modifier.isStatic(g.getModifiers()) || !g.getName().startsWith("get")
                    || g.getDeclaringClass() == Object.class) continue;
            Object value;
            try {
                value = g.invoke(o);
            } catch (ReflectiveOperationException e) {
                continue;
            }
            if (g.getName().equals("getAdditionalProperties")) {
                if (value instanceof Map<?, ?> extra && !extra.isEmpty()) {
                    problems.add(where + " (" + o.getClass().getSimpleName() + "): fields the API type does not have, "
                            + "or with a wrong type: " + extra);
                }
                continue;
            }
            noUnknownFields(value, where + "." + decap(g.getName().substring(3)), visited);
        }
    }

    private static String decap(String s) {
        return s.isEmpty() ? s : Character.toLowerCase(s.charAt(0)) + s.substring(1);
    }
}
