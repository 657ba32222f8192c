package io.mert.worker;

import io.mert.allreduce.CorruptStreamException;
import io.mert.allreduce.PeerFailureException;
import io.mert.allreduce.RingAllReduce;
import io.mert.allreduce.ShmAllReduce;
import io.mert.model.config.ConfigTree;
import io.mert.model.config.TrainConfig;
import io.mert.protocol.control.CheckpointSaved;
import io.mert.protocol.control.CoordinatorInbound;
import io.mert.protocol.control.DataPlaneEndpoint;
import io.mert.protocol.control.Dropped;
import io.mert.protocol.control.GenerationReady;
import io.mert.protocol.control.RegisterWorker;
import io.mert.protocol.control.RunStep;
import io.mert.protocol.control.RunValidation;
import io.mert.protocol.control.ValidationDone;
import io.mert.protocol.control.SaveCheckpoint;
import io.mert.protocol.control.StartGeneration;
import io.mert.protocol.control.StepDone;
import io.mert.protocol.control.SkippedSample;
import io.mert.protocol.control.StepFailed;
import io.mert.protocol.control.UnreadableFile;
import io.mert.protocol.control.WorkerInbound;
import io.mert.protocol.pekko.ServiceNames;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * A training worker: finds the coordinator through the receptionist, registers, and then does
 * what the coordinator says for the current generation (start it, run a step, save a checkpoint).
 * Steps run synchronously on the worker's own dispatcher thread; a peer that fails during the
 * allreduce turns the step into a {@code StepFailed} naming that peer.
 */
public final class Worker extends AbstractBehavior<Worker.Command> {

    public sealed interface Command permits FromCoordinator, CoordinatorsChanged, RegisterAgain {
    }

    /** Re-sends registration {@code number} if the coordinator has not answered it yet (see {@link #register()}). */
    record RegisterAgain(long number) implements Command {
    }

    /** How long a registration may go unanswered before it is sent again. */
    static final java.time.Duration REGISTER_AGAIN_AFTER = java.time.Duration.ofSeconds(10);

    /** A message from the coordinator, delivered through the remote inbox. */
    public record FromCoordinator(WorkerInbound message) implements Command {
    }

    record CoordinatorsChanged(Receptionist.Listing listing) implements Command {
    }

    /** Why a worker node stops when the coordinator ended the run (as opposed to losing it). */
    public static final CoordinatedShutdown.Reason RUN_FINISHED = new CoordinatedShutdown.Reason() {
        @Override
        public String toString() {
            return "RunFinished";
        }
    };

    private static final ServiceKey<CoordinatorInbound> COORDINATOR =
            ServiceKey.create(CoordinatorInbound.class, ServiceNames.COORDINATOR);

    private final WorkerSettings settings;
    private final RingAllReduce ring;
    private final SharedMemoryAllReduces shared; // with allreduce_transport: shm; the node closes it
    private final SessionFactory sessions;
    private final ActorRefResolver resolver;
    private final String inboxAddress;

    private ActorRef<CoordinatorInbound> coordinator;
    private long registrations;
    private boolean answered;
    private TrainingSession session;
    private long generation = -1;
    private int rank = -1;
    private int worldSize;
    private Path runDir;

    /** Opens the training state for a config (reads the manifest and labels, builds the network). */
    public interface SessionFactory {
        TrainingSession open(TrainConfig config, String configHash, RingAllReduce ring) throws Exception;
    }

    /** @param shared the node's shared-memory allreduce (used with allreduce_transport: shm), which the node closes */
    public static Behavior<Command> create(WorkerSettings settings, RingAllReduce ring, SessionFactory sessions,
                                           SharedMemoryAllReduces shared) {
        return Behaviors.setup(ctx -> new Worker(ctx, settings, ring, sessions, shared));
    }

    private Worker(ActorContext<Command> ctx, WorkerSettings settings, RingAllReduce ring, SessionFactory sessions,
                   SharedMemoryAllReduces shared) {
        super(ctx);
        this.settings = settings;
        this.ring = ring;
        this.shared = shared;
        this.sessions = sessions;
        this.resolver = ActorRefResolver.get(ctx.getSystem());
        ActorRef<WorkerInbound> inbox = ctx.spawn(Behaviors.<WorkerInbound>receiveMessage(m -> {
            // The inbox runs on the default dispatcher while this actor may be blocked in an allreduce of
            // the generation the new one replaces: call that operation off now rather than at its timeout.
            if (m.hasStartGeneration()) abortBefore(m.getStartGeneration().getGeneration());
            if (m.hasDropped()) abortBefore(m.getDropped().getGeneration() + 1);
            ctx.getSelf().tell(new FromCoordinator(m));
            return Behaviors.same();
        }), "inbox");
        this.inboxAddress = resolver.toSerializationFormat(inbox);
        ActorRef<Receptionist.Listing> listings = ctx.messageAdapter(Receptionist.Listing.class, CoordinatorsChanged::new);
        ctx.getSystem().receptionist().tell(Receptionist.subscribe(COORDINATOR, listings));
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(CoordinatorsChanged.class, this::onCoordinators)
                .onMessage(FromCoordinator.class, this::onCoordinatorMessage)
                .onMessage(RegisterAgain.class, this::onRegisterAgain)
                .onSignal(org.apache.pekko.actor.typed.PostStop.class, s -> {
                    closeSession();
                    return this;
                })
                .build();
    }

    private Behavior<Command> onCoordinators(CoordinatorsChanged c) {
        Set<ActorRef<CoordinatorInbound>> found = c.listing().getServiceInstances(COORDINATOR);
        if (found.isEmpty() || found.contains(coordinator)) return this;
        coordinator = found.iterator().next();
        register();
        return this;
    }

    private void register() {
        var endpoint = settings.dataPlane();
        coordinator.tell(CoordinatorInbound.newBuilder().setRegisterWorker(RegisterWorker.newBuilder()
                .setWorkerId(settings.workerId()).setInbox(inboxAddress).setDevice(settings.device())
                .setDataPlane(DataPlaneEndpoint.newBuilder().setChannel(endpoint.channel()).setStreamId(endpoint.streamId())))
                .build());
        getContext().getLog().debug("registered with coordinator {}", coordinator);
        // A registration can be lost for good: just after a partition heals, the coordinator's watch on a
        // worker node's new incarnation can fire Terminated at once (its association with the old one is
        // still quarantined), and the coordinator drops the worker without telling it. Until the coordinator
        // answers, register again; a registration it already holds is ignored.
        answered = false;
        getContext().scheduleOnce(REGISTER_AGAIN_AFTER, getContext().getSelf(), new RegisterAgain(++registrations));
    }

    private Behavior<Command> onRegisterAgain(RegisterAgain r) {
        if (r.number() != registrations || answered || coordinator == null) return this;
        getContext().getLog().info("no answer from coordinator {} for {} s; registering again", coordinator,
                REGISTER_AGAIN_AFTER.toSeconds());
        register();
        return this;
    }

    /** Left out of the run while alive (too slow, or blamed for a failed step): ask to be let back in. */
    private Behavior<Command> onDropped(Dropped d) {
        if (d.getGeneration() < generation || coordinator == null) return this; // already in a newer generation
        getContext().getLog().warn("dropped by the coordinator from generation {} ({}); registering again",
                d.getGeneration(), d.getReason());
        register();
        return this;
    }

    private Behavior<Command> onCoordinatorMessage(FromCoordinator f) {
        WorkerInbound m = f.message();
        answered = true;
        return switch (m.getKindCase()) {
            case START_GENERATION -> onStartGeneration(m.getStartGeneration());
            case RUN_STEP -> onRunStep(m.getRunStep());
            case SAVE_CHECKPOINT -> onSaveCheckpoint(m.getSaveCheckpoint());
            case RUN_VALIDATION -> onRunValidation(m.getRunValidation());
            case DROPPED -> onDropped(m.getDropped());
            case SHUTDOWN -> {
                getContext().getLog().debug("shutdown: {}", m.getShutdown().getReason());
                closeSession();
                // Leave the cluster gracefully; the last phase of the coordinated shutdown stops this node.
                // This actor (and its inbox) stays until then: the coordinator learns that the worker left
                // when its node is removed from the cluster, and stops only then. Stopping here instead
                // would end the node at once, before the leave completes and before the inbox's death
                // notification reaches the coordinator, which then waits out its 10 s grace period.
                CoordinatedShutdown.get(getContext().getSystem()).runAll(RUN_FINISHED);
                yield Behaviors.ignore();
            }
            case KIND_NOT_SET -> this;
        };
    }

    private Behavior<Command> onStartGeneration(StartGeneration g) {
        if (g.getGeneration() <= generation) return this; // stale: a newer generation is already known
        generation = g.getGeneration();
        rank = g.getRank();
        worldSize = g.getWorldSize();
        runDir = Path.of(g.getRunDir());
        coordinator = resolver.resolveActorRef(g.getCoordinatorInbox());
        GenerationReady.Builder transfer = GenerationReady.newBuilder();
        try {
            if (session == null || !session.configHash().equals(g.getConfigHash())) {
                closeSession();
                TrainConfig config = TrainConfig.from(ConfigTree.parse(g.getConfigYaml(), "config from the coordinator"));
                session = sessions.open(config, g.getConfigHash(), ring);
            }
            // a receiver of a state transfer gets its state from the donor below, not from a checkpoint
            boolean receiver = g.getStateTransfer() && g.getStateReceiverRanksList().contains(rank);
            if (!receiver && (g.getForceRestore() || session.completedSteps() != g.getStep())) {
                if (!g.getRestoreCheckpoint().isEmpty()) session.restore(Path.of(g.getRestoreCheckpoint()));
                else if (g.getStep() == 0) session.reinitialise();
            }
            List<io.mert.allreduce.DataPlaneEndpoint> peers = g.getRingList().stream()
                    .map(e -> new io.mert.allreduce.DataPlaneEndpoint(e.getChannel(), e.getStreamId())).toList();
            ring.startGeneration(generation, rank, peers, session.allreduceWire());
            session.reduceThrough(null); // off the shared area first: entering the generation below remaps it
            session.reduceThrough(sharedMemory(g, peers));
            if (g.getStateTransfer()) {
                try {
                    TrainingSession.StateTransfer moved = session.transferState(g.getStep(), g.getStateDonorRank(), receiver);
                    transfer.setStateBytes(moved.bytes()).setStateTransferMs(moved.millis());
                } catch (PeerFailureException | java.io.IOException | RuntimeException e) {
                    // reported in GenerationReady: the coordinator falls back to a checkpoint
                    getContext().getLog().warn("state transfer of generation {} (donor rank {}) failed: {}", generation,
                            g.getStateDonorRank(), e.getMessage());
                    transfer.setStateTransferError(String.valueOf(e.getMessage()));
                }
            }
        } catch (Exception e) {
            getContext().getLog().error("cannot join generation {}: {}", generation, e.toString(), e);
            reply(CoordinatorInbound.newBuilder().setStepFailed(StepFailed.newBuilder().setGeneration(generation)
                    .setStep(g.getStep()).setRank(rank).setReason("cannot start generation: " + e).setFailedPeerRank(-1)).build());
            return this;
        }
        reply(CoordinatorInbound.newBuilder().setGenerationReady(transfer
                .setGeneration(generation).setRank(rank).setWorkerId(settings.workerId())
                .setStep(session.completedSteps()).setParamChecksum(session.parameterChecksum())).build());
        return this;
    }

    private Behavior<Command> onRunStep(RunStep r) {
        if (r.getGeneration() != generation || session == null) return this;
        try {
            TrainingSession.StepResult s = session.run(r.getStep(), r.getLr(), rank, worldSize);
            settings.observer().onStep(r.getStep(), worldSize, s.timings(), worldSize > 1 ? session.allreduceBytes() : 0);
            StepDone.Builder done = StepDone.newBuilder()
                    .setGeneration(generation).setStep(r.getStep()).setRank(rank).setMetrics(s.metrics())
                    .setParamChecksum(s.checksum()).setTimings(s.timings()).setSampleDigest(s.sampleDigest());
            for (BatchAssembler.Replaced x : s.replaced()) {
                SkippedSample.Builder sk = SkippedSample.newBuilder().setSerial(x.serial()).setDrawnIndex(x.drawn())
                        .setReplacementIndex(x.replacement()).setReplacementPath(x.replacementPath());
                for (var u : x.unreadable())
                    sk.addUnreadable(UnreadableFile.newBuilder().setIndex(u.index()).setPath(u.path()).setReason(u.reason()));
                done.addSkippedSamples(sk);
            }
            reply(CoordinatorInbound.newBuilder().setStepDone(done).build());
        } catch (TrainingDataException e) {
            getContext().getLog().error("step {} of generation {}: {}", r.getStep(), generation, e.getMessage());
            UnreadableFile.Builder file = UnreadableFile.newBuilder();
            if (e.path() != null) file.setPath(e.path()).setReason(e.reason());
            reply(CoordinatorInbound.newBuilder().setStepFailed(StepFailed.newBuilder().setGeneration(generation)
                    .setStep(r.getStep()).setRank(rank).setReason(e.getMessage()).setFailedPeerRank(-1)
                    .setDataError(file)).build());
        } catch (io.mert.model.optim.DynamicLossScaler.MinimumLossScaleException e) {
            // every rank sees the same summed gradients and stops alike; the run cannot go on with these settings
            getContext().getLog().error("step {} of generation {}: {}", r.getStep(), generation, e.getMessage());
            reply(CoordinatorInbound.newBuilder().setStepFailed(StepFailed.newBuilder().setGeneration(generation)
                    .setStep(r.getStep()).setRank(rank).setReason(e.getMessage()).setFailedPeerRank(-1)
                    .setTrainingDiverged(true)).build());
        } catch (CorruptStreamException e) {
            getContext().getLog().warn("step {} of generation {}: {}", r.getStep(), generation, e.getMessage());
            reply(CoordinatorInbound.newBuilder().setStepFailed(StepFailed.newBuilder().setGeneration(generation)
                    .setStep(r.getStep()).setRank(rank).setReason(e.getMessage()).setFailedPeerRank(e.peerRank())
                    .setStreamCorrupted(true)).build());
        } catch (PeerFailureException e) {
            getContext().getLog().warn("step {} of generation {}: {}", r.getStep(), generation, e.getMessage());
            reply(failed(r.getStep(), e.getMessage(), e.peerRank()));
        } catch (Exception e) {
            getContext().getLog().error("step {} failed", r.getStep(), e);
            reply(failed(r.getStep(), e.toString(), -1));
        }
        return this;
    }

    private CoordinatorInbound failed(long step, String reason, int peer) {
        return CoordinatorInbound.newBuilder().setStepFailed(StepFailed.newBuilder().setGeneration(generation)
                .setStep(step).setRank(rank).setReason(reason).setFailedPeerRank(peer)).build();
    }

    private Behavior<Command> onRunValidation(RunValidation v) {
        if (v.getGeneration() != generation || session == null) return this;
        ValidationDone.Builder reply = ValidationDone.newBuilder().setGeneration(generation).setStep(v.getStep()).setRank(rank);
        try {
            ValidationSet set = session.validation();
            if (set.unavailable() != null) {
                reply.setUnavailable(set.unavailable());
            } else {
                ValidationSet.Sums s = session.validate(v.getStep(), rank, worldSize);
                reply.setClips(s.clips()).setSkippedClips(s.skipped()).setMaskedFrames(s.maskedFrames()).setLossSum(s.loss())
                        .setCqtSum(s.cqt());
                for (double x : s.crossEntropy()) reply.addCrossEntropySum(x);
                for (long x : s.correct()) reply.addCorrect(x);
            }
        } catch (Exception e) {
            getContext().getLog().error("validation after step {} failed", v.getStep(), e);
            reply.setError(e.toString());
        }
        reply(CoordinatorInbound.newBuilder().setValidationDone(reply).build());
        return this;
    }

    private Behavior<Command> onSaveCheckpoint(SaveCheckpoint s) {
        if (s.getGeneration() != generation || session == null) return this;
        CheckpointSaved.Builder reply = CheckpointSaved.newBuilder().setGeneration(generation).setStep(s.getStep());
        try {
            reply.setPath(session.saveCheckpoint(runDir, s.getStep(), s.getTrainerStateJson()).toString());
        } catch (Exception e) {
            getContext().getLog().error("checkpoint at step {} failed", s.getStep(), e);
            reply.setError(e.toString());
        }
        reply(CoordinatorInbound.newBuilder().setCheckpointSaved(reply).build());
        return this;
    }

    /** Ends an allreduce of an older generation now; from the inbox's thread. */
    private void abortBefore(long newGeneration) {
        ring.abortBefore(newGeneration);
        shared.abortBefore(newGeneration);
    }

    /**
     * With {@code distributed_training.allreduce_transport: shm}, this generation's shared-memory allreduce (every rank
     * must be on this host, else the generation cannot start); null with the Aeron ring. Its files are named after the
     * run directory and config, so that runs on one host stay apart, and kept for the next generation when they fit.
     */
    private ShmAllReduce sharedMemory(StartGeneration g, List<io.mert.allreduce.DataPlaneEndpoint> peers) {
        if (session.allreduceTransport() != TrainConfig.AllReduceTransport.SHM) return null;
        String notOneHost = OneHost.whyNot(peers);
        if (notOneHost != null) {
            throw new IllegalStateException("distributed_training.allreduce_transport=shm needs every worker of a generation on "
                    + "one host, but " + notOneHost + "; use allreduce_transport=aeron");
        }
        ShmAllReduce shm = shared.forRun(g.getRunDir(), g.getConfigHash(), session.allreduceFloats());
        shm.startGeneration(generation, rank, worldSize);
        return shm;
    }

    private void reply(CoordinatorInbound m) {
        if (coordinator != null) coordinator.tell(m);
    }

    private void closeSession() {
        if (session != null) {
            session.close();
            session = null;
        }
    }
}
