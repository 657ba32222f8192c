package io.mert.cli;

import io.mert.coordinator.Coordinator;
import io.mert.coordinator.CoordinatorSettings;
import io.mert.coordinator.RunListener;
import io.mert.protocol.pekko.NodeConfig;
import io.mert.protocol.pekko.TransportSecurity;
import org.apache.pekko.actor.typed.ActorSystem;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A JVM's coordinator role: a cluster seed node whose guardian is the coordinator actor. */
final class CoordinatorNode implements AutoCloseable {

    private final ActorSystem<Coordinator.Command> system;

    private CoordinatorNode(ActorSystem<Coordinator.Command> system) {
        this.system = system;
    }

    /** A node on loopback for in-process clusters (plain TCP: nothing leaves the host). */
    static CoordinatorNode start(String host, int port, CoordinatorSettings settings, RunListener listener) {
        return start(host, null, port, settings, listener, new TransportSecurity.Plaintext());
    }

    /**
     * @param host     the address workers join (the seed node they name); in Kubernetes the pod's stable DNS name
     * @param bindHost the interface to listen on when it differs from {@code host} (0.0.0.0 in a pod), else null
     */
    static CoordinatorNode start(String host, String bindHost, int port, CoordinatorSettings settings, RunListener listener,
                                 TransportSecurity security) {
        String self = host + ":" + port;
        return new CoordinatorNode(ActorSystem.create(Coordinator.create(settings, listener), NodeConfig.SYSTEM_NAME,
                NodeConfig.of(host, bindHost, port, List.of(self), "coordinator", security)));
    }

    /** Runs {@code action} when the node has stopped, for whatever reason. */
    void whenTerminated(Runnable action) {
        system.getWhenTerminated().thenRun(action);
    }

    void stop(String reason) {
        system.tell(new Coordinator.Stop(reason));
    }

    /** Waits until the run ends (the coordinator stops when training finishes or is stopped). */
    boolean awaitTermination(Duration timeout) {
        try {
            system.getWhenTerminated().toCompletableFuture().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            return true;
        } catch (Exception e) {
            return false;
        }
    }

    @Override
    public void close() {
        system.terminate();
        awaitTermination(Duration.ofSeconds(30));
    }
}
