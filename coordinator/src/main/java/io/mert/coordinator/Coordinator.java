package io.mert.coordinator;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mert.model.checkpoint.TrainerState;
import io.mert.model.config.TrainConfig;
import io.mert.model.optim.PolynomialDecaySchedule;
import io.mert.protocol.ShardPlan;
import io.mert.protocol.pekko.ServiceNames;
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
import io.mert.protocol.control.Shutdown;
import io.mert.protocol.control.SkippedSample;
import io.mert.protocol.control.UnreadableFile;
import io.mert.protocol.control.StartGeneration;
import io.mert.protocol.control.StepDone;
import io.mert.protocol.control.StepFailed;
import io.mert.protocol.control.WorkerInbound;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;
import org.apache.pekko.actor.Address;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Subscribe;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Drives synchronous training steps over a changing set of workers (see DESIGN.md "The synchronous
 * step" and "Recovery"). Membership is counted in generations; every message to and from workers
 * carries one, and anything from another generation is ignored. A step completes when every rank of
 * the generation reports it with the same parameter checksum and gradient norm; a lost or failed
 * worker opens a new generation with the survivors, which re-run the same step.
 */
public final class Coordinator extends AbstractBehavior<Coordinator.Command> {

    /** Workers find the coordinator's inbox through the cluster receptionist under this key. */
    public static final ServiceKey<CoordinatorInbound> SERVICE_KEY =
            ServiceKey.create(CoordinatorInbound.class, ServiceNames.COORDINATOR);

    public sealed interface Command permits FromWorker, WorkerLost, Reachability, Timeout, Stop {
    }

    /** A message from a worker, delivered through the remote inbox. */
    public record FromWorker(CoordinatorInbound message) implements Command {
    }

    record WorkerLost(String workerId, ActorRef<WorkerInbound> inbox) implements Command {
    }

    /** The cluster's failure detector lost (or regained) heartbeats from the node at {@code address}. */
    record Reachability(Address address, boolean reachable) implements Command {
    }

    record Timeout(long generation, long step, Phase phase) implements Command {
    }

    /** Ends the run: workers are told to shut down. */
    public record Stop(String reason) implements Command {
    }

    enum Phase { WAITING_FOR_WORKERS, STARTING_GENERATION, RUNNING_STEP, VALIDATING, CHECKPOINTING, FINISHED }

    private record Member(String id, ActorRef<WorkerInbound> inbox, DataPlaneEndpoint endpoint) {
    }

    private static final Object TIMER = "phase-timeout";

    private final CoordinatorSettings settings;
    private final TrainConfig config;
    private final RunListener listener;
    private final TimerScheduler<Command> timers;
    private final RunLog log;
    private final ShardPlan plan;
    private final PolynomialDecaySchedule schedule;
    private final ActorRefResolver resolver;
    private final String inboxAddress;

    private final Map<String, Member> registered = new LinkedHashMap<>();
    /** Workers dropped because their node became unreachable, by node: readmitted if it comes back. */
    private final Map<Address, List<Member>> droppedUnreachable = new HashMap<>();
    private List<Member> members = List.of();
    private final Map<Integer, GenerationReady> ready = new HashMap<>();
    private final Map<Integer, StepDone> done = new HashMap<>();
    private final Map<Integer, ValidationDone> validated = new HashMap<>();
    /** The step whose validation pass is due and not yet done (redone after a generation change), or -1. */
    private long validationDue = -1;
    /** Set when the workers report that there is no validation split: validation is then skipped. */
    private String validationUnavailable;
    /** Worker ids by rank of recent generations, to name the sender of a message from an older one. */
    private final Map<Long, List<String>> generationWorkers = new HashMap<>();
    private static final int GENERATIONS_REMEMBERED = 32;

    private Phase phase = Phase.WAITING_FOR_WORKERS;
    private long generation;
    private long completed;
    private Path lastCheckpoint;
    private long lastCheckpointStep = -1;
    private boolean forceRestore;
    private boolean membershipChanged;
    private long stepStartNanos;
    private long checkpointStartNanos;
    /** Steps redone in a row because of an injected data-plane frame; reset by a completed step. */
    private int corruptRedos;
    private static final int MAX_CORRUPT_REDOS = 3;
    /** A validation pass may take this many step timeouts before the silent workers are dropped. */
    private static final int VALIDATION_TIMEOUT_STEPS = 10;
    private long runStartNanos;
    /** Files reported unreadable so far: a warning is logged once per file, an event per skipped draw. */
    private final java.util.Set<String> warnedUnreadable = new java.util.HashSet<>();
    /**
     * Workers known to hold the state after {@code completed} steps that every rank agreed on (they reported
     * it in the last StepDone or GenerationReady): the possible donors of a state transfer. A worker admitted
     * or readmitted is not in it until it has received the state.
     */
    private final java.util.Set<String> current = new java.util.HashSet<>();
    /** The state transfer of the generation being started: donor rank (-1: none) and receiving ranks. */
    private int transferDonor = -1;
    private List<Integer> transferReceivers = List.of();
    /** A state transfer at this step failed: joins at this step go through a checkpoint instead. */
    private long transferFallbackStep = -1;
    /** The rank that writes the checkpoint requested now: rank 0, or the donor when a transfer failed. */
    private int checkpointRank;
    private long generationStartNanos;
    /** Set when the run stops for unreadable training data: why, for the exit message. */
    private String dataErrorStop;
    /** Ranks that reported the current step's data error without naming the file. */
    private final java.util.Set<Integer> dataErrorRanks = new java.util.HashSet<>();

    public static Behavior<Command> create(CoordinatorSettings settings, RunListener listener) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> new Coordinator(ctx, timers, settings, listener)));
    }

    private Coordinator(ActorContext<Command> ctx, TimerScheduler<Command> timers, CoordinatorSettings settings,
                        RunListener listener) {
        super(ctx);
        this.settings = settings;
        this.config = settings.config();
        this.listener = listener;
        this.timers = timers;
        this.log = new RunLog(settings.runDir());
        this.plan = settings.plan();
        this.schedule = new PolynomialDecaySchedule(config.lr(), config.warmupUpdates(), config.totalNumUpdate(),
                config.endLearningRate(), config.power());
        this.resolver = ActorRefResolver.get(ctx.getSystem());
        this.generation = settings.startGeneration();
        this.completed = settings.startStep();
        if (settings.restoreCheckpoint() != null) {
            lastCheckpoint = settings.restoreCheckpoint();
            lastCheckpointStep = settings.startStep();
        }
        ActorRef<CoordinatorInbound> inbox = ctx.spawn(Behaviors.<CoordinatorInbound>receiveMessage(m -> {
            ctx.getSelf().tell(new FromWorker(m));
            return Behaviors.same();
        }), "inbox");
        this.inboxAddress = resolver.toSerializationFormat(inbox);
        ctx.getSystem().receptionist().tell(Receptionist.register(SERVICE_KEY, inbox));
        if ("cluster".equals(ctx.getSystem().settings().config().getString("pekko.actor.provider"))) {
            // Unreachability (a few seconds of missing heartbeats) comes well before the split-brain
            // resolver downs the node and death watch fires: drop the worker then, so a kill costs the
            // failure detector's pause, not the downing delay plus the allreduce timeout.
            ActorRef<ClusterEvent.ReachabilityEvent> reachability = ctx.messageAdapter(ClusterEvent.ReachabilityEvent.class,
                    ev -> new Reachability(ev.member().address(), ev instanceof ClusterEvent.ReachableMember));
            Cluster.get(ctx.getSystem()).subscriptions().tell(Subscribe.create(reachability, ClusterEvent.ReachabilityEvent.class));
        }
        ObjectNode e = RunLog.object().put("step", completed).put("dataset_size", settings.datasetSize())
                .put("steps_per_epoch", plan.stepsPerEpoch()).put("config_hash", config.configHash());
        event("coordinator_started", e);
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(FromWorker.class, this::onFromWorker)
                .onMessage(WorkerLost.class, this::onWorkerLost)
                .onMessage(Reachability.class, this::onReachability)
                .onMessage(Timeout.class, this::onTimeout)
                .onMessage(Stop.class, s -> finish("stopped: " + s.reason(), false))
                .build();
    }

    private Behavior<Command> onFromWorker(FromWorker w) {
        CoordinatorInbound m = w.message();
        return switch (m.getKindCase()) {
            case REGISTER_WORKER -> onRegister(m.getRegisterWorker());
            case GENERATION_READY -> onReady(m.getGenerationReady());
            case STEP_DONE -> onStepDone(m.getStepDone());
            case STEP_FAILED -> onStepFailed(m.getStepFailed());
            case CHECKPOINT_SAVED -> onCheckpointSaved(m.getCheckpointSaved());
            case VALIDATION_DONE -> onValidationDone(m.getValidationDone());
            case KIND_NOT_SET -> this;
        };
    }

    // ---- membership ---------------------------------------------------------------------------

    private Behavior<Command> onRegister(RegisterWorker r) {
        ActorRef<WorkerInbound> inbox = resolver.resolveActorRef(r.getInbox());
        if (phase == Phase.FINISHED) {
            // e.g. a worker dropped near the end that registers again: it has nothing left to do
            if (!registered.containsKey(r.getWorkerId())) inbox.tell(shutdownMessage("the run has ended"));
            return this;
        }
        Member previous = registered.get(r.getWorkerId());
        if (previous != null && previous.inbox().equals(inbox)) return this;
        if (previous != null) getContext().unwatch(previous.inbox());
        droppedUnreachable.values().forEach(l -> l.removeIf(m -> m.id().equals(r.getWorkerId())));
        event("worker_registered", RunLog.object().put("worker", r.getWorkerId()).put("device", r.getDevice())
                .put("registered", registered.size() + (previous == null ? 1 : 0)));
        return admit(new Member(r.getWorkerId(), inbox, r.getDataPlane()));
    }

    private Behavior<Command> admit(Member m) {
        registered.put(m.id(), m);
        current.remove(m.id()); // a new or returning process: its state is unknown until it gets the current one
        getContext().watchWith(m.inbox(), new WorkerLost(m.id(), m.inbox()));
        if (phase == Phase.WAITING_FOR_WORKERS) {
            if (registered.size() >= Math.max(config.worldSize(), config.minWorldSize())) return startGeneration();
        } else {
            membershipChanged = true; // admitted at the next step boundary
        }
        return this;
    }

    private Behavior<Command> onWorkerLost(WorkerLost lost) {
        Member m = registered.get(lost.workerId());
        if (m == null || !m.inbox().equals(lost.inbox())) return this;
        if (phase == Phase.FINISHED) {
            registered.remove(lost.workerId());
            return registered.isEmpty() ? Behaviors.stopped() : this;
        }
        return dropWorkers(List.of(lost.workerId()), "terminated", false);
    }

    private Behavior<Command> onReachability(Reachability r) {
        if (phase == Phase.FINISHED) return this;
        if (!r.reachable()) {
            List<Member> there = registered.values().stream()
                    .filter(m -> m.inbox().path().address().equals(r.address())).toList();
            if (there.isEmpty()) return this;
            droppedUnreachable.put(r.address(), new ArrayList<>(there));
            // not told: it is readmitted when its node is reachable again
            return dropWorkers(there.stream().map(Member::id).toList(), "unreachable: no cluster heartbeats from " + r.address(), false);
        }
        List<Member> back = droppedUnreachable.remove(r.address());
        if (back == null) return this;
        Behavior<Command> next = this;
        for (Member m : back) {
            if (registered.containsKey(m.id())) continue;
            event("worker_reachable_again", RunLog.object().put("worker", m.id()).put("step", completed));
            next = admit(m);
        }
        return next;
    }

    /**
     * @param tell whether to tell the dropped workers so (a worker that may be alive and reachable: it
     *             registers again and is admitted at a step boundary, see {@link Dropped})
     */
    private Behavior<Command> dropWorkers(List<String> ids, String reason, boolean tell) {
        boolean memberLost = false;
        for (String id : ids) {
            Member m = registered.remove(id);
            if (m == null) continue;
            getContext().unwatch(m.inbox());
            current.remove(id);
            if (tell) m.inbox().tell(WorkerInbound.newBuilder().setDropped(Dropped.newBuilder()
                    .setGeneration(generation).setReason(reason)).build());
            memberLost |= members.contains(m);
            event("worker_lost", RunLog.object().put("worker", id).put("reason", reason).put("step", completed));
        }
        if (memberLost && dataErrorStop != null) return finish(dataErrorStop, false); // stopping anyway: no new generation
        if (!memberLost || phase == Phase.FINISHED || phase == Phase.WAITING_FOR_WORKERS) return this;
        return regenerate();
    }

    /** Opens a new generation with whoever is registered, or pauses below the minimum world size. */
    private Behavior<Command> regenerate() {
        timers.cancel(TIMER);
        if (registered.size() < config.minWorldSize()) {
            phase = Phase.WAITING_FOR_WORKERS;
            members = List.of();
            event("paused", RunLog.object().put("registered", registered.size()).put("min_world_size", config.minWorldSize()));
            return this;
        }
        return startGeneration();
    }

    private Behavior<Command> startGeneration() {
        generation++;
        membershipChanged = false;
        List<Member> chosen = new ArrayList<>(registered.values());
        if (chosen.size() > config.clipsPerStepAtLeast()) chosen = chosen.subList(0, config.clipsPerStepAtLeast());
        members = List.copyOf(chosen);
        generationWorkers.put(generation, members.stream().map(Member::id).toList());
        generationWorkers.remove(generation - GENERATIONS_REMEMBERED);
        ready.clear();
        done.clear();
        checkpointRank = 0;
        phase = Phase.STARTING_GENERATION;
        planStateTransfer();
        generationStartNanos = System.nanoTime();
        List<DataPlaneEndpoint> ring = members.stream().map(Member::endpoint).toList();
        for (int rank = 0; rank < members.size(); rank++) {
            StartGeneration.Builder sg = StartGeneration.newBuilder()
                    .setGeneration(generation).setRank(rank).setWorldSize(members.size()).addAllRing(ring)
                    .setConfigYaml(config.tree().toYaml()).setConfigHash(config.configHash())
                    .setRunDir(settings.runDir().toString()).setStep(completed)
                    .setCoordinatorInbox(inboxAddress).setForceRestore(forceRestore);
            if (transferDonor >= 0) {
                sg.setStateTransfer(true).setStateDonorRank(transferDonor).addAllStateReceiverRanks(transferReceivers);
            } else if (lastCheckpoint != null && lastCheckpointStep == completed) {
                sg.setRestoreCheckpoint(lastCheckpoint.toString());
            }
            members.get(rank).inbox().tell(WorkerInbound.newBuilder().setStartGeneration(sg).build());
        }
        ArrayNode ids = RunLog.object().arrayNode();
        members.forEach(m -> ids.add(m.id()));
        ObjectNode e = RunLog.object().put("generation", generation).put("world_size", members.size()).put("step", completed);
        e.set("workers", ids);
        if (transferDonor >= 0) e.put("state_donor", members.get(transferDonor).id());
        event("generation_started", e);
        timers.startSingleTimer(TIMER, new Timeout(generation, completed, phase), settings.stepTimeout());
        return this;
    }

    /** The members that a generation started now would have: the first registered, up to one per clip. */
    private List<Member> candidates() {
        List<Member> chosen = new ArrayList<>(registered.values());
        return chosen.size() > config.clipsPerStepAtLeast() ? chosen.subList(0, config.clipsPerStepAtLeast()) : chosen;
    }

    /** Whether a generation started now can give its newcomers the state from a donor rather than a checkpoint. */
    private boolean donorAvailable() {
        if (config.stateTransfer() != TrainConfig.StateTransfer.AERON || forceRestore || transferFallbackStep == completed) return false;
        return candidates().stream().anyMatch(m -> current.contains(m.id()));
    }

    /**
     * Names the donor (the lowest rank holding the current state) and the receivers (the members that do
     * not) of the generation being started, when the state can travel over Aeron; else none.
     */
    private void planStateTransfer() {
        transferDonor = -1;
        transferReceivers = List.of();
        if (!donorAvailable()) return;
        int donor = -1;
        List<Integer> receivers = new ArrayList<>();
        for (int rank = 0; rank < members.size(); rank++) {
            if (!current.contains(members.get(rank).id())) receivers.add(rank);
            else if (donor < 0) donor = rank;
        }
        if (donor < 0 || receivers.isEmpty()) return;
        transferDonor = donor;
        transferReceivers = List.copyOf(receivers);
    }

    private Behavior<Command> onReady(GenerationReady r) {
        if (r.getGeneration() < generation) return stale("generation_ready", r.getGeneration(), r.getRank(), r.getStep());
        if (r.getGeneration() != generation || phase != Phase.STARTING_GENERATION) return this;
        ready.put(r.getRank(), r);
        if (ready.size() < members.size()) return this;
        timers.cancel(TIMER);
        if (transferDonor >= 0) {
            String failure = null;
            for (GenerationReady x : ready.values()) {
                if (!x.getStateTransferError().isEmpty()) failure = "rank " + x.getRank() + ": " + x.getStateTransferError();
            }
            if (failure != null) return stateTransferFailed(failure);
        }
        long checksum = ready.get(0).getParamChecksum();
        boolean consistent = ready.values().stream()
                .allMatch(x -> x.getStep() == completed && x.getParamChecksum() == checksum);
        if (!consistent) return rollBack("workers disagree on their state after a generation change: " + describe(ready));
        if (transferDonor >= 0) recordStateTransfer();
        current.clear();
        members.forEach(m -> current.add(m.id()));
        forceRestore = false;
        phase = Phase.RUNNING_STEP;
        if (runStartNanos == 0) runStartNanos = System.nanoTime();
        // a validation pass that a lost worker interrupted is redone by the new generation
        if (validationDue == completed) return startValidation();
        return nextStepOrFinish();
    }

    private void recordStateTransfer() {
        double ms = 0;
        for (GenerationReady x : ready.values()) ms = Math.max(ms, x.getStateTransferMs());
        ArrayNode to = RunLog.object().arrayNode();
        transferReceivers.forEach(rank -> to.add(members.get(rank).id()));
        ObjectNode e = RunLog.object().put("step", completed).put("generation", generation)
                .put("donor", members.get(transferDonor).id()).put("bytes", ready.get(transferDonor).getStateBytes())
                .put("ms", ms).put("generation_start_ms", (System.nanoTime() - generationStartNanos) / 1e6)
                .put("param_checksum", Long.toHexString(ready.get(transferDonor).getParamChecksum()));
        e.set("receivers", to);
        event("state_transferred", e);
    }

    /**
     * The donor's state did not arrive intact (or a rank timed out): the donor, whose state the transfer
     * never touches, writes a checkpoint at this step unless there is one, and the next generation
     * restores the newcomers from it.
     */
    private Behavior<Command> stateTransferFailed(String why) {
        int donor = transferDonor;
        ArrayNode to = RunLog.object().arrayNode();
        transferReceivers.forEach(rank -> to.add(members.get(rank).id()));
        getContext().getLog().warn("state transfer at step {} failed ({}); falling back to a checkpoint", completed, why);
        ObjectNode e = RunLog.object().put("step", completed).put("generation", generation)
                .put("donor", members.get(donor).id()).put("reason", why);
        e.set("receivers", to);
        event("state_transfer_failed", e);
        transferFallbackStep = completed;
        transferDonor = -1;
        transferReceivers = List.of();
        membershipChanged = true;
        if (lastCheckpoint != null && lastCheckpointStep == completed) return startGeneration();
        checkpointRank = donor;
        return requestCheckpoint();
    }

    /** Every worker reloads the newest checkpoint (or re-initialises when there is none). */
    private Behavior<Command> rollBack(String why) {
        getContext().getLog().error("{}; rolling back to {}", why,
                lastCheckpoint == null ? "the initial parameters" : lastCheckpoint);
        event("rollback", RunLog.object().put("reason", why).put("from_step", completed)
                .put("to_step", Math.max(lastCheckpointStep, 0)));
        completed = Math.max(lastCheckpointStep, 0);
        forceRestore = true;
        current.clear();
        validationDue = -1;
        return startGeneration();
    }

    // ---- steps --------------------------------------------------------------------------------

    private Behavior<Command> nextStepOrFinish() {
        if (completed >= config.maxUpdate()) return finish("reached optimization.max_update=" + config.maxUpdate(), true);
        phase = Phase.RUNNING_STEP;
        done.clear();
        dataErrorRanks.clear();
        stepStartNanos = System.nanoTime();
        WorkerInbound run = WorkerInbound.newBuilder().setRunStep(RunStep.newBuilder()
                .setGeneration(generation).setStep(completed).setLr(schedule.lrAt(completed))).build();
        members.forEach(m -> m.inbox().tell(run));
        timers.startSingleTimer(TIMER, new Timeout(generation, completed, phase), settings.stepTimeout());
        return this;
    }

    private Behavior<Command> onStepDone(StepDone d) {
        if (d.getGeneration() < generation) return stale("step_done", d.getGeneration(), d.getRank(), d.getStep());
        if (d.getGeneration() != generation || d.getStep() != completed || phase != Phase.RUNNING_STEP) return this;
        done.put(d.getRank(), d);
        if (done.size() < members.size()) return this;
        timers.cancel(TIMER);
        StepDone first = done.get(0);
        for (StepDone x : done.values()) {
            if (x.getParamChecksum() != first.getParamChecksum()
                    || Double.compare(x.getMetrics().getGradNorm(), first.getMetrics().getGradNorm()) != 0 // NaN equals NaN
                    || Double.compare(x.getMetrics().getLossScale(), first.getMetrics().getLossScale()) != 0) {
                return rollBack("parameter divergence at step " + completed + ": ranks report different checksums, gradient norms or loss scales " + describeDone());
            }
        }
        completed++;
        corruptRedos = 0;
        current.clear();
        members.forEach(m -> current.add(m.id()));
        recordStep(first);
        recordSkippedSamples();
        if (validationUnavailable == null && config.validatesAfter(completed)) {
            validationDue = completed;
            return startValidation();
        }
        return afterStep();
    }

    /** After a step (and its validation, if any): checkpoint when due, else the next step. */
    private Behavior<Command> afterStep() {
        boolean finalStep = completed >= config.maxUpdate();
        if (completed % config.saveIntervalUpdates() == 0 || finalStep) return requestCheckpoint();
        // a newcomer gets the state from a donor over Aeron when one exists; else through a checkpoint
        if (membershipChanged) return donorAvailable() ? startGeneration() : requestCheckpoint();
        return nextStepOrFinish();
    }

    // ---- validation ---------------------------------------------------------------------------

    private Behavior<Command> startValidation() {
        phase = Phase.VALIDATING;
        validated.clear();
        stepStartNanos = System.nanoTime();
        WorkerInbound run = WorkerInbound.newBuilder().setRunValidation(RunValidation.newBuilder()
                .setGeneration(generation).setStep(completed)).build();
        members.forEach(m -> m.inbox().tell(run));
        // a pass covers the whole split, which may take many steps' worth of forward passes
        timers.startSingleTimer(TIMER, new Timeout(generation, completed, phase), settings.stepTimeout().multipliedBy(VALIDATION_TIMEOUT_STEPS));
        return this;
    }

    private Behavior<Command> onValidationDone(ValidationDone v) {
        if (v.getGeneration() != generation || v.getStep() != completed || phase != Phase.VALIDATING) return this;
        validated.put(v.getRank(), v);
        if (validated.size() < members.size()) return this;
        timers.cancel(TIMER);
        validationDue = -1;
        String unavailable = null, error = null;
        for (ValidationDone x : validated.values()) {
            if (!x.getUnavailable().isEmpty()) unavailable = x.getUnavailable();
            if (!x.getError().isEmpty()) error = "rank " + x.getRank() + ": " + x.getError();
        }
        if (unavailable != null) {
            validationUnavailable = unavailable;
            getContext().getLog().info("no validation: {}", unavailable);
            event("validation_skipped", RunLog.object().put("step", completed).put("reason", unavailable));
        } else if (error != null) {
            getContext().getLog().warn("validation after step {} failed ({}); training goes on", completed, error);
            event("validation_failed", RunLog.object().put("step", completed).put("reason", error));
        } else {
            recordValidation();
        }
        return afterStep();
    }

    /** Sums over ranks (in rank order), normalised by the masked frames of the whole split. */
    private void recordValidation() {
        double seconds = (System.nanoTime() - stepStartNanos) / 1e9;
        int streams = config.model().labelClasses().size();
        long frames = 0;
        int clips = 0, skipped = 0;
        double loss = 0, cqt = 0;
        double[] ce = new double[streams];
        long[] correct = new long[streams];
        for (int rank = 0; rank < members.size(); rank++) {
            ValidationDone x = validated.get(rank);
            frames += x.getMaskedFrames();
            clips += x.getClips();
            skipped += x.getSkippedClips();
            loss += x.getLossSum();
            cqt += x.getCqtSum();
            for (int k = 0; k < streams && k < x.getCrossEntropySumCount(); k++) {
                ce[k] += x.getCrossEntropySum(k);
                correct[k] += x.getCorrect(k);
            }
        }
        double n = Math.max(frames, 1);
        ObjectNode line = RunLog.object().put("split", config.validSubset()).put("step", completed)
                .put("loss", loss / n).put("cqt_loss", cqt / n).put("clips", clips).put("skipped_clips", skipped)
                .put("supervised_frames", frames).put("world_size", members.size()).put("generation", generation)
                .put("valid_s", seconds);
        ArrayNode ceOut = line.putArray("acoustic_loss");
        for (double x : ce) ceOut.add(x / n);
        ArrayNode acc = line.putArray("masked_accuracy");
        for (long x : correct) acc.add(x / n);
        log.valid(line);
        event("validation", line.deepCopy());
    }

    private void recordStep(StepDone first) {
        double seconds = (System.nanoTime() - stepStartNanos) / 1e9;
        long digest = 0;
        for (StepDone x : done.values()) digest += x.getSampleDigest();
        var m = first.getMetrics();
        ObjectNode line = RunLog.object()
                .put("step", completed)
                .put("epoch", plan.epochOf(completed - 1))
                .put("loss", m.getLoss())
                .put("lr", schedule.lrAt(completed - 1))
                .put("grad_norm", m.getGradNorm())
                .put("world_size", members.size())
                .put("generation", generation)
                .put("samples_per_s", plan.batchSize(completed - 1) / seconds)
                .put("step_s", seconds)
                .put("feature_penalty", m.getFeaturePenalty())
                .put("cqt_loss", m.getCqtLoss())
                .put("supervised_frames", m.getSupervisedFrames())
                .put("sample_digest", Long.toHexString(digest))
                .put("param_checksum", Long.toHexString(first.getParamChecksum()));
        if (m.getLossScale() > 0) line.put("loss_scale", m.getLossScale()).put("overflow", m.getOverflow());
        ArrayNode ce = line.putArray("acoustic_loss");
        m.getAcousticLossList().forEach(ce::add);
        ArrayNode acc = line.putArray("masked_accuracy");
        m.getMaskedAccuracyList().forEach(acc::add);
        var t = first.getTimings();
        line.putObject("timings_ms").put("data", t.getDataMs()).put("compute", t.getComputeMs())
                .put("allreduce", t.getAllreduceMs()).put("update", t.getUpdateMs());
        log.metrics(line);
        listener.onStep(line);
    }

    /** One {@code sample_skipped} event per replaced draw of the step just completed, in draw order. */
    private void recordSkippedSamples() {
        List<SkippedSample> skipped = new ArrayList<>();
        done.values().forEach(d -> skipped.addAll(d.getSkippedSamplesList()));
        skipped.sort(java.util.Comparator.comparingLong(SkippedSample::getSerial));
        for (SkippedSample x : skipped) {
            for (UnreadableFile u : x.getUnreadableList()) {
                if (warnedUnreadable.add(u.getPath())) {
                    getContext().getLog().warn("skipping unreadable training audio {} (first met at step {}): {}; its draws "
                            + "are replaced by the next readable clip. Remove it from the manifest (and its label lines) "
                            + "to silence this, or set dataset.strict_data=true to stop instead", u.getPath(), completed,
                            u.getReason());
                }
                event("sample_skipped", RunLog.object().put("step", completed).put("file", u.getPath())
                        .put("reason", u.getReason()).put("replacement", x.getReplacementPath())
                        .put("replacement_index", x.getReplacementIndex()).put("drawn_index", x.getDrawnIndex())
                        .put("serial", x.getSerial()));
            }
        }
    }

    /**
     * Unreadable training data that may not be skipped: no rank applied the step. Stop cleanly: log a
     * {@code data_error} event, checkpoint the last completed step unless that checkpoint exists, end.
     */
    private Behavior<Command> onDataError(StepFailed f) {
        UnreadableFile u = f.getDataError();
        if (u.getPath().isEmpty()) {
            // this rank only learned through the allreduce that another rank met the file: wait for that one
            dataErrorRanks.add(f.getRank());
            if (dataErrorRanks.size() < members.size()) return this;
        }
        timers.cancel(TIMER);
        String file = u.getPath().isEmpty() ? "(not named: the rank that read it did not report)" : u.getPath();
        String manifest = config.manifestDir().resolve("train.tsv").toString();
        dataErrorStop = "unreadable training audio " + file + ": " + (u.getReason().isEmpty() ? f.getReason() : u.getReason())
                + ". Step " + (completed + 1) + " was not applied. "
                + (config.strictData()
                    ? "Remove the file from " + manifest + " (and its line from every train.<label> file), or run without "
                      + "dataset.strict_data so unreadable files are skipped"
                    : "Replace the damaged audio files, or remove them from " + manifest + " (and their lines from every "
                      + "train.<label> file)")
                + "; then continue with `mert resume --run-dir " + settings.runDir() + "`";
        getContext().getLog().error(dataErrorStop);
        event("data_error", RunLog.object().put("step", completed + 1).put("last_completed_step", completed).put("file", file).put("reason", u.getReason())
                .put("rank", f.getRank()).put("strict", config.strictData()));
        if (lastCheckpointStep == completed) return finish(dataErrorStop, false);
        return requestCheckpoint();
    }

    private Behavior<Command> onStepFailed(StepFailed f) {
        if (f.getGeneration() < generation) return stale("step_failed", f.getGeneration(), f.getRank(), f.getStep());
        // a worker that cannot join the generation reports it while the generation starts: restart it now
        // without that worker rather than after the step timeout
        if (f.getGeneration() != generation || (phase != Phase.RUNNING_STEP && phase != Phase.STARTING_GENERATION)) return this;
        if (f.hasDataError() && phase == Phase.RUNNING_STEP) return onDataError(f);
        if (f.getTrainingDiverged() && phase == Phase.RUNNING_STEP) {
            event("training_diverged", RunLog.object().put("step", completed + 1).put("rank", f.getRank()).put("reason", f.getReason()));
            return finish("training stopped at step " + (completed + 1) + ": " + f.getReason() + "; the newest checkpoint is "
                    + (lastCheckpoint == null ? "none" : lastCheckpoint) + ", continue from it with other settings through "
                    + "`mert resume --run-dir " + settings.runDir() + "`", false);
        }
        event("step_failed", RunLog.object().put("step", f.getStep()).put("rank", f.getRank())
                .put("reason", f.getReason()).put("failed_peer_rank", f.getFailedPeerRank()));
        if (f.getStreamCorrupted() && corruptRedos < MAX_CORRUPT_REDOS) {
            // Someone injected frames into the data plane: no member is known to be at fault, so the same
            // members redo the step in a fresh generation (new Aeron sessions). A stream that stays corrupted
            // falls through to blaming the upstream peer below.
            corruptRedos++;
            return startGeneration();
        }
        int blamed = f.getFailedPeerRank() >= 0 && f.getFailedPeerRank() < members.size() ? f.getFailedPeerRank() : f.getRank();
        return dropWorkers(List.of(members.get(blamed).id()), "step failed: " + f.getReason(), true);
    }

    private Behavior<Command> onTimeout(Timeout t) {
        if (t.phase() == Phase.FINISHED && phase == Phase.FINISHED) return Behaviors.stopped();
        if (t.generation() != generation || t.step() != completed || t.phase() != phase) return this;
        if (dataErrorStop != null) return finish(dataErrorStop + " (the checkpoint of step " + completed + " was not confirmed "
                + "in time; resume uses the newest valid one)", false);
        Map<Integer, ?> replied = phase == Phase.STARTING_GENERATION ? ready : phase == Phase.VALIDATING ? validated : done;
        List<String> silent = new ArrayList<>();
        for (int rank = 0; rank < members.size(); rank++) {
            if (phase == Phase.CHECKPOINTING ? rank == checkpointRank : !replied.containsKey(rank)) silent.add(members.get(rank).id());
        }
        getContext().getLog().warn("{} timed out at step {} (generation {}); dropping {}", phase, completed, generation, silent);
        return dropWorkers(silent, "no reply within " + settings.stepTimeout().toSeconds() + " s", true);
    }

    // ---- checkpoints --------------------------------------------------------------------------

    private Behavior<Command> requestCheckpoint() {
        phase = Phase.CHECKPOINTING;
        checkpointStartNanos = System.nanoTime();
        TrainerState state = TrainerState.builder()
                .step(completed)
                .epoch(plan.epochOf(completed))
                .samplesConsumedInEpoch(plan.epochOffsetOf(completed))
                .globalBatchSize(config.globalBatch()) // 0 with dataset.max_tokens: the batch varies per step
                .generation(generation)
                .seed(config.seed())
                .worldSize(members.size())
                .numUpdates(completed)
                .lastLr(schedule.lrAt(Math.max(completed - 1, 0)))
                .config(config.tree().asMap())
                .trainingSeconds(settings.trainingSecondsBefore() + (System.nanoTime() - runStartNanos) / 1e9)
                .extra("dataset_size", settings.datasetSize())
                .extra("label_classes", config.model().labelClasses())
                .build();
        members.get(checkpointRank).inbox().tell(WorkerInbound.newBuilder().setSaveCheckpoint(SaveCheckpoint.newBuilder()
                .setGeneration(generation).setStep(completed).setTrainerStateJson(new String(state.toJson(), java.nio.charset.StandardCharsets.UTF_8))).build());
        timers.startSingleTimer(TIMER, new Timeout(generation, completed, phase), settings.stepTimeout());
        return this;
    }

    private Behavior<Command> onCheckpointSaved(CheckpointSaved s) {
        if (s.getGeneration() < generation) return stale("checkpoint_saved", s.getGeneration(), 0, s.getStep());
        if (s.getGeneration() != generation || s.getStep() != completed || phase != Phase.CHECKPOINTING) return this;
        timers.cancel(TIMER);
        if (!s.getError().isEmpty()) {
            getContext().getLog().error("checkpoint at step {} failed: {}", completed, s.getError());
            event("checkpoint_failed", RunLog.object().put("step", completed).put("error", s.getError())
                    .put("duration_ms", checkpointMillis()));
        } else {
            lastCheckpoint = Path.of(s.getPath());
            lastCheckpointStep = completed;
            event("checkpoint_saved", RunLog.object().put("step", completed).put("path", s.getPath())
                    .put("duration_ms", checkpointMillis()));
        }
        if (dataErrorStop != null) return finish(dataErrorStop, false);
        if (membershipChanged && completed < config.maxUpdate()) return startGeneration();
        return nextStepOrFinish();
    }

    /** From the request to rank 0's reply: serialising, writing, fsync and rename, as the run waited for them. */
    private long checkpointMillis() {
        return (System.nanoTime() - checkpointStartNanos) / 1_000_000;
    }

    /**
     * A reply from an older generation (a worker that was stalled or cut off while the others moved on):
     * refused, and recorded so that it can be seen that it was.
     */
    private Behavior<Command> stale(String kind, long messageGeneration, int rank, long step) {
        if (phase == Phase.FINISHED) return this;
        List<String> ids = generationWorkers.get(messageGeneration);
        String worker = ids != null && rank >= 0 && rank < ids.size() ? ids.get(rank) : "rank " + rank;
        getContext().getLog().debug("ignoring {} of generation {} from {} (generation {} is current)", kind,
                messageGeneration, worker, generation);
        event("stale_message_ignored", RunLog.object().put("kind", kind).put("worker", worker)
                .put("message_generation", messageGeneration).put("message_step", step)
                .put("generation", generation).put("step", completed));
        return this;
    }

    // ---- end ----------------------------------------------------------------------------------

    private Behavior<Command> finish(String reason, boolean success) {
        if (phase == Phase.FINISHED) return this;
        phase = Phase.FINISHED;
        timers.cancel(TIMER);
        WorkerInbound bye = shutdownMessage(reason);
        registered.values().forEach(m -> m.inbox().tell(bye));
        event("finished", RunLog.object().put("step", completed).put("reason", reason).put("success", success));
        try {
            log.close();
        } catch (Exception e) {
            getContext().getLog().warn("closing run logs: {}", e.toString());
        }
        if (success) listener.onFinished(completed);
        else listener.onFailed(reason);
        if (registered.isEmpty()) return Behaviors.stopped();
        // Let the workers leave the cluster first, so nobody sees the coordinator vanish: a worker's inbox
        // terminates when its node has left (removed from the cluster), and the last one stops this actor
        // (onWorkerLost), about 2 s after the Shutdown. The timer only bounds the wait for a worker that
        // never leaves.
        timers.startSingleTimer(TIMER, new Timeout(generation, completed, Phase.FINISHED), java.time.Duration.ofSeconds(10));
        return this;
    }

    private static WorkerInbound shutdownMessage(String reason) {
        return WorkerInbound.newBuilder().setShutdown(Shutdown.newBuilder().setReason(reason)).build();
    }

    private void event(String name, ObjectNode details) {
        details.put("event", name).put("time_ms", System.currentTimeMillis());
        log.event(details);
        listener.onEvent(name, details);
    }

    private static String describe(Map<Integer, GenerationReady> r) {
        StringBuilder sb = new StringBuilder();
        r.forEach((rank, x) -> sb.append(" rank ").append(rank).append(": step ").append(x.getStep())
                .append(" checksum ").append(Long.toHexString(x.getParamChecksum())));
        return sb.toString();
    }

    private String describeDone() {
        StringBuilder sb = new StringBuilder();
        done.forEach((rank, x) -> sb.append(" rank ").append(rank).append(": checksum ")
                .append(Long.toHexString(x.getParamChecksum())).append(" grad_norm ").append(x.getMetrics().getGradNorm())
                .append(x.getMetrics().getLossScale() > 0 ? " loss_scale " + x.getMetrics().getLossScale() : ""));
        return sb.toString();
    }
}
