package io.mert.protocol.pekko;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class NodeConfigTest {

    private static final String STABLE_AFTER = "pekko.cluster.split-brain-resolver.stable-after";

    @Test
    void aPekkoSystemPropertyOverridesTheBuiltInSetting() {
        Config plain = NodeConfig.of("127.0.0.1", 0, List.of(), "worker");
        assertEquals(Duration.ofSeconds(5), plain.getDuration(STABLE_AFTER));
        System.setProperty(STABLE_AFTER, "17s");
        ConfigFactory.invalidateCaches();
        try {
            Config tuned = NodeConfig.of("127.0.0.1", 0, List.of(), "worker");
            assertEquals(Duration.ofSeconds(17), tuned.getDuration(STABLE_AFTER));
            assertEquals("keep-oldest", tuned.getString("pekko.cluster.split-brain-resolver.active-strategy"),
                    "settings not overridden stay as they are");
        } finally {
            System.clearProperty(STABLE_AFTER);
            ConfigFactory.invalidateCaches();
        }
    }

    @Test
    void onlyTheCoordinatorQuarantinesRemovedMembersSoon() {
        String key = "pekko.cluster.quarantine-removed-node-after";
        // a downed worker that quarantined the coordinator would make the coordinator's split-brain resolver down itself
        assertEquals(Duration.ofMinutes(10), NodeConfig.of("127.0.0.1", 0, List.of(), "worker").getDuration(key));
        Config coordinator = NodeConfig.of("127.0.0.1", 0, List.of(), "coordinator");
        org.junit.jupiter.api.Assertions.assertFalse(coordinator.hasPath(key) && !coordinator.getDuration(key).equals(Duration.ofSeconds(5)),
                "the coordinator keeps Pekko's default (5 s)");
        assertEquals("off", coordinator.getString("pekko.cluster.split-brain-resolver.down-all-when-unstable"),
                "flapping workers must not make the resolver down every member, the coordinator included");
    }
}
