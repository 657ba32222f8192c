package io.mert.deploy;

import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.stream.Stream;

import static io.mert.deploy.RenderedChart.values;
import static org.junit.jupiter.api.Assertions.*;

/** values.schema.json: bad values stop `helm template`/`helm install` with a message naming the value. */
class ValuesSchemaTest {

    static Stream<Arguments> badValues() {
        return Stream.of(
                Arguments.of(values("workers.replicas", -1), "replicas"),
                Arguments.of(values("workers.replicas", 0), "replicas"),
                Arguments.of(values("workers.replicas", "eight"), "replicas"),
                Arguments.of(values("workers.replicas", 2.5), "replicas"),
                Arguments.of(values("gpu.enabled", "yes"), "enabled"),
                Arguments.of(values("ports.dataPlane", 70000), "dataPlane"),
                Arguments.of(values("ports.http", "http"), "http"),
                Arguments.of(values("image.pullPolicy", "Sometimes"), "pullPolicy"),
                Arguments.of(values("workers.podAntiAffinity", "maybe"), "podAntiAffinity"),
                Arguments.of(values("workers.shmSize", "lots"), "shmSize"),
                Arguments.of(values("workers.nativeMemory.maxBytes", "4 gigabytes"), "maxBytes"),
                Arguments.of(values("volumes.run.mountPath", "relative/run"), "mountPath"),
                Arguments.of(values("volumes.dataset.accessModes", java.util.List.of("ReadWriteSometimes")), "accessModes"),
                Arguments.of(values("config.dataset.global_batch_size", 0), "global_batch_size"),
                Arguments.of(values("worker", Map.of("replicas", 3)), "worker"),
                Arguments.of(values("workers.replica", 3), "replica"));
    }

    @ParameterizedTest
    @MethodSource("badValues")
    void badValuesFailAtInstall(Map<String, Object> bad, String named) {
        Exception e = assertThrows(Exception.class, () -> RenderedChart.render(bad), "accepted " + bad);
        assertTrue(e.getMessage().contains("values don't meet the specifications of the schema"), e.getMessage());
        assertTrue(e.getMessage().contains(named), "the message names '" + named + "': " + e.getMessage());
    }

    @Test
    void theSameKeysWithGoodValuesRender() throws Exception {
        RenderedChart c = RenderedChart.render(values("workers.replicas", 3, "gpu.enabled", false, "ports.dataPlane", 40200,
                "workers.shmSize", "2Gi", "workers.nativeMemory.maxBytes", "6G", "volumes.run.mountPath", "/runs/a",
                "config.dataset.global_batch_size", 16, "workers.podDisruptionBudget.maxUnavailable", "25%"));
        StatefulSet w = c.workers();
        assertEquals(3, w.getSpec().getReplicas());
        assertEquals(java.util.List.of(), ApiValidation.validate(c.objects()), c.yaml());
    }
}
