package io.mert.cli;

import io.mert.protocol.control.CoordinatorInbound;
import io.mert.protocol.control.RegisterWorker;
import io.mert.protocol.pekko.NodeConfig;
import io.mert.protocol.pekko.TransportSecurity;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.typed.Cluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Mutual TLS between real Pekko nodes on loopback: a node holding a certificate from the cluster CA joins
 * and its messages arrive; a node with a certificate from another CA, and a node speaking plain TCP, never
 * become members and nothing they send reaches the coordinator's actors.
 */
class MutualTlsTest {

    @TempDir
    static Path dir;

    private static final Set<String> received = ConcurrentHashMap.newKeySet();
    private static final List<ActorSystem<?>> systems = new ArrayList<>();
    private static ActorSystem<CoordinatorInbound> coordinator;
    private static int coordinatorPort;

    @BeforeAll
    static void certificatesAndACoordinator() throws Exception {
        ClusterCertificates certs = new ClusterCertificates();
        certs.create(dir.resolve("cluster"), List.of("ip:127.0.0.1"), 2);
        certs.create(dir.resolve("stranger"), List.of("ip:127.0.0.1"), 2);
        impostor(dir.resolve("impostor"));
        coordinatorPort = LocalCluster.freePort();
        Behavior<CoordinatorInbound> recorder = Behaviors.receiveMessage(m -> {
            received.add(m.getRegisterWorker().getWorkerId());
            return Behaviors.same();
        });
        coordinator = ActorSystem.create(recorder, NodeConfig.SYSTEM_NAME, NodeConfig.of("127.0.0.1", coordinatorPort,
                List.of("127.0.0.1:" + coordinatorPort), "coordinator", tls("cluster")));
        systems.add(coordinator);
    }

    @AfterAll
    static void stop() {
        systems.forEach(ActorSystem::terminate);
    }

    /**
     * The realistic outsider: the cluster CA's certificate is public, so it trusts the cluster and would
     * accept the coordinator, but its own key is signed by another CA. Only the coordinator asking for the
     * client's certificate (mutual authentication) keeps it out.
     */
    private static void impostor(Path impostor) throws Exception {
        Files.createDirectories(impostor);
        Path stranger = dir.resolve("stranger");
        Files.copy(stranger.resolve(TransportSecurity.KEY_STORE), impostor.resolve(TransportSecurity.KEY_STORE));
        Files.copy(stranger.resolve(TransportSecurity.PASSWORD), impostor.resolve(TransportSecurity.PASSWORD));
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "keytool").toString(),
                "-importcert", "-noprompt", "-alias", "ca", "-file", dir.resolve("cluster").resolve(ClusterCertificates.CA_CERT).toString(),
                "-keystore", impostor.resolve(TransportSecurity.TRUST_STORE).toString(), "-storetype", "PKCS12",
                "-storepass:file", impostor.resolve(TransportSecurity.PASSWORD).toString())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), out);
    }

    private static TransportSecurity tls(String name) {
        return TransportSecurity.MutualTls.fromDirectory(dir.resolve(name));
    }

    /** A worker-role node that joins the coordinator and sends it a RegisterWorker named {@code id}, twice a second. */
    private static void startWorker(String id, TransportSecurity security) {
        int port = LocalCluster.freePort();
        ActorSystem<Void> s = ActorSystem.create(Behaviors.empty(), NodeConfig.SYSTEM_NAME,
                NodeConfig.of("127.0.0.1", port, List.of("127.0.0.1:" + coordinatorPort), "worker", security));
        var target = s.classicSystem()
                .actorSelection("pekko://" + NodeConfig.SYSTEM_NAME + "@127.0.0.1:" + coordinatorPort + "/user");
        CoordinatorInbound hello = CoordinatorInbound.newBuilder()
                .setRegisterWorker(RegisterWorker.newBuilder().setWorkerId(id)).build();
        s.scheduler().scheduleAtFixedRate(Duration.ZERO, Duration.ofMillis(500),
                () -> target.tell(hello, org.apache.pekko.actor.ActorRef.noSender()), s.executionContext());
        systems.add(s);
    }

    private static int members() {
        return (int) java.util.stream.StreamSupport.stream(Cluster.get(coordinator).state().getMembers().spliterator(), false)
                .filter(m -> m.status() == org.apache.pekko.cluster.MemberStatus.up()).count();
    }

    @Test
    void onlyNodesWithTheClustersCertificateJoinOrDeliverMessages() throws Exception {
        startWorker("stranger", tls("stranger"));
        startWorker("impostor", tls("impostor"));
        startWorker("plaintext", new TransportSecurity.Plaintext());
        startWorker("member", tls("cluster"));

        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while ((members() < 2 || !received.contains("member")) && System.nanoTime() < deadline) Thread.sleep(200);
        assertEquals(2, members(), "coordinator + the worker with the cluster's certificate");
        assertTrue(received.contains("member"), "the member's messages arrive: " + received);

        Thread.sleep(5000); // the outsiders have kept trying all along; give them a few more rounds
        assertEquals(2, members(), "no outsider became a member");
        assertEquals(Set.of("member"), Set.copyOf(received), "nothing from outside the CA reached the coordinator");
    }

    @Test
    void anIncompleteTlsDirectoryIsAClearError() throws Exception {
        Path half = Files.createDirectories(dir.resolve("half"));
        Files.copy(dir.resolve("cluster").resolve(TransportSecurity.KEY_STORE), half.resolve(TransportSecurity.KEY_STORE));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TransportSecurity.MutualTls.fromDirectory(half));
        assertTrue(e.getMessage().contains("has no truststore.p12"), e.getMessage());
        IllegalArgumentException again = assertThrows(IllegalArgumentException.class,
                () -> new ClusterCertificates().create(dir.resolve("cluster"), List.of(), 2));
        assertTrue(again.getMessage().contains("is not empty"), again.getMessage());
    }
}
