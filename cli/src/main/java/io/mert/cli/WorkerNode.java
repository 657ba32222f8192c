package io.mert.cli;

import io.aeron.Aeron;
import io.mert.allreduce.AeronClients;
import io.mert.allreduce.AllReduceConfig;
import io.mert.allreduce.DataPlaneEndpoint;
import io.mert.allreduce.RingAllReduce;
import io.mert.protocol.pekko.NodeConfig;
import io.mert.protocol.pekko.TransportSecurity;
import io.mert.worker.SessionFactories;
import io.mert.worker.SharedMemoryAllReduces;
import io.mert.worker.Worker;
import io.mert.worker.WorkerSettings;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A JVM's worker role: a cluster member that joins the coordinator, an Aeron client on the media
 * driver of this host, and the worker actor on a dispatcher thread of its own.
 */
final class WorkerNode implements AutoCloseable {

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(WorkerNode.class);

    private final ActorSystem<Void> system;
    private final Aeron aeron;
    private final RingAllReduce ring;
    private final SharedMemoryAllReduces shared;
    /** Set when this node closes its Aeron client itself; an Aeron close without it is a lost data plane. */
    private volatile boolean closingDataPlane;
    private volatile boolean dataPlaneLost;

    private WorkerNode(ActorSystem<Void> system, Aeron aeron, RingAllReduce ring, SharedMemoryAllReduces shared) {
        this.system = system;
        this.aeron = aeron;
        this.ring = ring;
        this.shared = shared;
    }

    /** A node on loopback for in-process clusters (plain TCP: nothing leaves the host). */
    static WorkerNode start(String host, int port, String coordinator, String aeronDirectory, WorkerSettings settings) {
        return start(host, null, port, coordinator, aeronDirectory, settings, new TransportSecurity.Plaintext());
    }

    /** @param bindHost the interface to listen on when it differs from the advertised {@code host}, else null */
    static WorkerNode start(String host, String bindHost, int port, String coordinator, String aeronDirectory,
                            WorkerSettings settings, TransportSecurity security) {
        java.util.concurrent.CompletableFuture<WorkerNode> self = new java.util.concurrent.CompletableFuture<>();
        // The Aeron client closes itself for good when the driver goes quiet for longer than its liveness
        // timeout, or when this process was stopped for longer than that (SIGSTOP, a long GC pause, a
        // suspended VM): every publication and subscription is gone, so this node could never take part
        // in a step again. Stop the node instead: `mert worker` then starts a fresh one (new client, new
        // cluster member) that registers again. (AeronClients: longer timeouts, and never System.exit.)
        Aeron aeron = Aeron.connect(AeronClients.context(aeronDirectory, lost -> { })
                .closeHandler(() -> self.thenAccept(WorkerNode::onAeronClosed)));
        RingAllReduce ring = null;
        SharedMemoryAllReduces shared = new SharedMemoryAllReduces();
        try {
            ring = new RingAllReduce(aeron, settings.dataPlane(), AllReduceConfig.defaults());
            WorkerNode node = start(host, bindHost, port, coordinator, settings, security, aeron, ring, shared);
            self.complete(node);
            return node;
        } catch (RuntimeException | Error e) {
            // A node that cannot start (its cluster port still held by the node it replaces) must not leave its
            // ring's subscription behind: the media driver outlives it, and Aeron lets an image advance only as
            // far as its slowest subscription, so a forgotten one would stall every later stream to this worker
            // after its first receiver window (128 KiB): each allreduce and state transfer timing out.
            shared.close();
            if (ring != null) ring.close();
            aeron.close();
            throw e;
        }
    }

    private static WorkerNode start(String host, String bindHost, int port, String coordinator, WorkerSettings settings,
                                    TransportSecurity security, Aeron aeron, RingAllReduce ring, SharedMemoryAllReduces shared) {
        Behavior<Void> guardian = Behaviors.setup(ctx -> {
            ActorRef<Worker.Command> worker = ctx.spawn(Worker.create(settings, ring, SessionFactories.FROM_DATASET, shared), "worker",
                    DispatcherSelector.fromConfig("mert.worker-dispatcher"));
            ctx.watch(worker);
            return Behaviors.<Void>receive((c, m) -> Behaviors.same(), (c, signal) ->
                    signal instanceof Terminated ? Behaviors.stopped() : Behaviors.same());
        });
        ActorSystem<Void> system = ActorSystem.create(guardian, NodeConfig.SYSTEM_NAME,
                NodeConfig.of(host, bindHost, port, List.of(coordinator), "worker", security));
        WorkerNode node = new WorkerNode(system, aeron, ring, shared);
        system.getWhenTerminated().thenRun(node::closeDataPlane);
        return node;
    }

    private void onAeronClosed() {
        if (closingDataPlane) return;
        dataPlaneLost = true;
        LOG.error("the Aeron client of worker node {} closed (the media driver went quiet, or this process was stopped for longer than "
                + "the liveness timeout); stopping this node so that a fresh one rejoins", system.address());
        system.terminate();
    }

    /** True once this node's coordinated shutdown has begun (it was downed, told to finish, or lost its data plane). */
    boolean shuttingDown() {
        return org.apache.pekko.actor.CoordinatedShutdown.get(system).getShutdownReason().isPresent();
    }

    /** Gives up on a node whose shutdown hangs: its data plane is closed so that a fresh node can take over. */
    void abandon() {
        closeDataPlane();
    }

    /** True when the node stopped because its Aeron client died (not because the run ended or the cluster was lost). */
    boolean dataPlaneLost() {
        return dataPlaneLost;
    }

    /** True while this node is an Up member of the cluster (it has joined the coordinator). */
    boolean isUp() {
        try {
            return org.apache.pekko.cluster.typed.Cluster.get(system).selfMember().status()
                    == org.apache.pekko.cluster.MemberStatus.up();
        } catch (RuntimeException stopped) {
            return false;
        }
    }

    /** True when the node stopped because the coordinator ended the run, not because it lost the cluster. */
    boolean runFinished() {
        return org.apache.pekko.actor.CoordinatedShutdown.get(system).getShutdownReason()
                .filter(r -> r == Worker.RUN_FINISHED).isPresent();
    }

    static DataPlaneEndpoint ipcEndpoint(int streamId) {
        return new DataPlaneEndpoint("aeron:ipc", streamId);
    }

    boolean awaitTermination(Duration timeout) {
        try {
            system.getWhenTerminated().toCompletableFuture().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            return true;
        } catch (Exception e) {
            return false;
        }
    }

    private synchronized void closeDataPlane() {
        closingDataPlane = true;
        try {
            shared.close(); // deletes the shared-memory allreduce's file, if the run used one
        } finally {
            try {
                ring.close();
            } finally {
                aeron.close(); // whatever failed above: a live client would keep the ring's subscription in the driver
            }
        }
    }

    @Override
    public void close() {
        system.terminate();
        awaitTermination(Duration.ofSeconds(30));
    }
}
