package io.mert.protocol.pekko;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;

import java.util.List;
import java.util.stream.Collectors;

/**
 * The Pekko settings every mert node runs with: a cluster member over Artery TCP, protobuf-only
 * serialization (see reference.conf), the split-brain resolver, SLF4J logging kept quiet.
 */
public final class NodeConfig {

    public static final String SYSTEM_NAME = "mert";

    private NodeConfig() {
    }

    /**
     * @param host      the address other nodes reach this one at; it also is the address the node listens on
     * @param port      Artery port, 0 for any free port
     * @param seedNodes "host:port" of the nodes to join (the coordinator), empty to form a cluster alone
     * @param role      "coordinator" or "worker"
     */
    public static Config of(String host, int port, List<String> seedNodes, String role) {
        return of(host, null, port, seedNodes, role, new TransportSecurity.Plaintext());
    }

    /** As {@link #of(String, int, List, String)}, with the cluster transport protected as {@code security} says. */
    public static Config of(String host, int port, List<String> seedNodes, String role, TransportSecurity security) {
        return of(host, null, port, seedNodes, role, security);
    }

    /** As {@link #of(String, String, int, List, String, TransportSecurity)} over plain TCP. */
    public static Config of(String host, String bindHost, int port, List<String> seedNodes, String role) {
        return of(host, bindHost, port, seedNodes, role, new TransportSecurity.Plaintext());
    }

    /**
     * A node whose advertised (canonical) address differs from the interface it listens on. Pekko
     * drops messages addressed to any name but the canonical one, so in Kubernetes the coordinator
     * advertises the stable DNS name its workers use as seed node, while it listens on 0.0.0.0:
     * that name may not resolve inside its own pod yet when the JVM starts.
     *
     * @param bindHost the interface address to listen on (e.g. 0.0.0.0), or null to listen on {@code host}
     * @param security mutual TLS or plain TCP for the cluster connections
     */
    public static Config of(String host, String bindHost, int port, List<String> seedNodes, String role,
                            TransportSecurity security) {
        if (host == null || host.isBlank()) throw new IllegalArgumentException("the node's advertised host is empty");
        String bind = bindHost == null || bindHost.isBlank() ? host : bindHost;
        String seeds = seedNodes.stream()
                .map(s -> "\"pekko://" + SYSTEM_NAME + "@" + s + "\"")
                .collect(Collectors.joining(","));
        // -Dpekko.* system properties (e.g. through MERT_JAVA_OPTS) win over the settings below, so an
        // operator can tune, say, how long an unreachable worker has to come back before it is downed
        // (pekko.cluster.split-brain-resolver.stable-after) without a new build.
        Config operator = ConfigFactory.systemProperties().withOnlyPath("pekko");
        return operator.withFallback(ConfigFactory.parseString(String.join("\n",
                        "pekko.actor.provider = cluster",
                        "pekko.loggers = [\"org.apache.pekko.event.slf4j.Slf4jLogger\"]",
                        "pekko.logging-filter = \"org.apache.pekko.event.slf4j.Slf4jLoggingFilter\"",
                        "pekko.loglevel = INFO",
                        "pekko.stdout-loglevel = OFF",
                        "pekko.log-dead-letters = off",
                        "pekko.log-dead-letters-during-shutdown = off",
                        "pekko.remote.artery.canonical.hostname = \"" + host + "\"",
                        "pekko.remote.artery.canonical.port = " + port,
                        "pekko.remote.artery.bind.hostname = \"" + bind + "\"",
                        // empty: the same port as the canonical one (also when that one was picked freely)
                        "pekko.remote.artery.bind.port = \"\"",
                        "pekko.cluster.seed-nodes = [" + seeds + "]",
                        "pekko.cluster.roles = [\"" + role + "\"]",
                        "pekko.cluster.jmx.enabled = off",
                        "pekko.cluster.log-info = off",
                        "pekko.cluster.downing-provider-class = \"org.apache.pekko.cluster.sbr.SplitBrainResolverProvider\"",
                        // The coordinator is the oldest member and the one that must survive a partition:
                        // the side without it stops training rather than forming a second run.
                        "pekko.cluster.split-brain-resolver.active-strategy = keep-oldest",
                        "pekko.cluster.split-brain-resolver.keep-oldest.down-if-alone = off",
                        "pekko.cluster.split-brain-resolver.keep-oldest.role = coordinator",
                        "pekko.cluster.split-brain-resolver.stable-after = 5s",
                        // Off: by default a resolver that sees reachability change for longer than stable-after plus
                        // 4 s downs every member, the coordinator included (seen in ChaosTest: a worker stalled, woke
                        // and was downed while another was killed, and a worker leading the resolver downed all).
                        // Workers come and go by design; the coordinator's step timeout drops silent ones anyway, and
                        // keep-oldest still settles a partition in the coordinator's favour once it is stable.
                        "pekko.cluster.split-brain-resolver.down-all-when-unstable = off",
                        "pekko.cluster.failure-detector.acceptable-heartbeat-pause = 4s",
                        // A worker never needs to quarantine anyone, and must not: a downed worker whose shutdown
                        // takes more than the default 5 s (a step still running) quarantines every member it saw
                        // removed, and the coordinator's split-brain resolver, which still lists that worker as a Down
                        // member while another worker is unreachable, answers with DownSelfQuarantinedByRemote and downs
                        // the coordinator (Pekko 1.7 acts on quarantines from members of any status; Akka later
                        // ignored those from members that are not Up). Seen in ChaosTest: stall, then kill.
                        role.equals("worker") ? "pekko.cluster.quarantine-removed-node-after = 10m" : "",
                        "pekko.coordinated-shutdown.exit-jvm = off",
                        "pekko.coordinated-shutdown.run-by-jvm-shutdown-hook = on")))
                .withFallback(security.config())
                .withFallback(ConfigFactory.load());
    }
}
