package io.mert.cli;

import io.mert.protocol.pekko.NodeConfig;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.stream.StreamSupport;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The Kubernetes addressing of a coordinator: it advertises the stable DNS name its workers name as
 * seed node, and listens on 0.0.0.0. Pekko only accepts messages addressed to the advertised name,
 * so workers must join with exactly that name; the name need not resolve inside the coordinator's
 * own pod when it starts (a headless Service publishes it later).
 */
class AdvertisedAddressTest {

    private final List<ActorSystem<?>> systems = new ArrayList<>();

    @AfterEach
    void stop() {
        for (ActorSystem<?> s : systems) s.terminate();
        for (ActorSystem<?> s : systems) s.getWhenTerminated().toCompletableFuture().join();
    }

    private ActorSystem<Void> node(com.typesafe.config.Config config) {
        ActorSystem<Void> s = ActorSystem.create(Behaviors.empty(), NodeConfig.SYSTEM_NAME, config);
        systems.add(s);
        return s;
    }

    @Test
    void theConfigSeparatesTheAdvertisedNameFromTheListenAddress() {
        var c = NodeConfig.of("mert-coordinator-0.mert-coordinator.ns.svc.cluster.local", "0.0.0.0", 25520,
                List.of("mert-coordinator-0.mert-coordinator.ns.svc.cluster.local:25520"), "coordinator");
        assertEquals("mert-coordinator-0.mert-coordinator.ns.svc.cluster.local", c.getString("pekko.remote.artery.canonical.hostname"));
        assertEquals("0.0.0.0", c.getString("pekko.remote.artery.bind.hostname"));
        assertEquals(List.of("pekko://mert@mert-coordinator-0.mert-coordinator.ns.svc.cluster.local:25520"),
                c.getStringList("pekko.cluster.seed-nodes"));
        var plain = NodeConfig.of("10.1.2.3", 25520, List.of(), "worker");
        assertEquals("10.1.2.3", plain.getString("pekko.remote.artery.bind.hostname"), "without a listen host: listen where advertised");
        assertThrows(IllegalArgumentException.class, () -> NodeConfig.of(" ", "0.0.0.0", 1, List.of(), "worker"));
    }

    @Test
    void aNameThatDoesNotResolveYetCanBeAdvertisedWhileListeningOnAllInterfaces() throws Exception {
        String dnsName = "mert-coordinator-0.mert-coordinator.not-a-namespace.svc.cluster.invalid";
        int port = LocalCluster.freePort();
        ActorSystem<Void> coordinator = node(NodeConfig.of(dnsName, "0.0.0.0", port, List.of(), "coordinator"));
        assertEquals(Optional.of(dnsName), coordinator.address().getHost());
        assertTrue(canConnect(InetAddress.getLoopbackAddress(), port), "listens on loopback too");
    }

    @Test
    void workersJoinThroughTheAdvertisedNameAndTheCoordinatorListensOnEveryInterface() throws Exception {
        int port = LocalCluster.freePort();
        // "localhost" stands in for the coordinator's DNS name: it resolves (to 127.0.0.1) but is not an interface address
        ActorSystem<Void> coordinator = node(NodeConfig.of("localhost", "0.0.0.0", port, List.of("localhost:" + port), "coordinator"));
        ActorSystem<Void> worker = node(NodeConfig.of("127.0.0.1", LocalCluster.freePort(), List.of("localhost:" + port), "worker"));
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (upMembers(coordinator) < 2 || upMembers(worker) < 2) {
            assertTrue(System.nanoTime() < deadline, "no 2-member cluster within 30 s: coordinator sees "
                    + upMembers(coordinator) + ", worker sees " + upMembers(worker));
            Thread.sleep(100);
        }
        assertEquals("localhost", Cluster.get(coordinator).selfMember().address().getHost().orElseThrow());
        Optional<InetAddress> other = siteAddress();
        assumeTrue(other.isPresent(), "no non-loopback IPv4 address on this machine to check the 0.0.0.0 bind");
        assertTrue(canConnect(other.get(), port), "listens on " + other.get() + " as well (bound to 0.0.0.0)");
    }

    private static long upMembers(ActorSystem<?> s) {
        return StreamSupport.stream(Cluster.get(s).state().getMembers().spliterator(), false)
                .filter(m -> m.status() == MemberStatus.up()).count();
    }

    private static boolean canConnect(InetAddress host, int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(host, port), 2000);
            return true;
        } catch (Exception e) {
            return false;
        }
    }

    private static Optional<InetAddress> siteAddress() throws Exception {
        for (NetworkInterface nif : Collections.list(NetworkInterface.getNetworkInterfaces())) {
            if (!nif.isUp() || nif.isLoopback()) continue;
            for (InetAddress a : Collections.list(nif.getInetAddresses())) {
                if (a instanceof Inet4Address && !a.isLoopbackAddress()) return Optional.of(a);
            }
        }
        return Optional.empty();
    }
}
