package io.mert.coordinator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.mert.model.config.ConfigTree;
import io.mert.model.config.TrainConfig;
import io.mert.protocol.control.CheckpointSaved;
import io.mert.protocol.control.CoordinatorInbound;
import io.mert.protocol.control.DataPlaneEndpoint;
import io.mert.protocol.control.GenerationReady;
import io.mert.protocol.control.RegisterWorker;
import io.mert.protocol.control.StartGeneration;
import io.mert.protocol.control.StepDone;
import io.mert.protocol.control.StepFailed;
import io.mert.protocol.control.StepMetrics;
import io.mert.protocol.control.WorkerInbound;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** The coordinator's step protocol against scripted workers (test probes standing in for worker inboxes). */
class CoordinatorProtocolTest {

    private static final ActorTestKit KIT = ActorTestKit.create();
    private static final ObjectMapper JSON = new ObjectMapper();

    @AfterAll
    static void shutdown() {
        KIT.shutdownTestKit();
    }

    private static TrainConfig config(int maxUpdate, int worldSize) {
        return config(maxUpdate, worldSize, 30);
    }

    private static TrainConfig config(int maxUpdate, int worldSize, int stepTimeoutSeconds) {
        return TrainConfig.from(ConfigTree.parse("""
                task: {data: /nonexistent, max_sample_size: 48000}
                model: {preset: tiny}
                dataset: {global_batch_size: 4, disable_validation: true}  # these probes play workers without a valid split
                optimization: {max_update: %d, lr: [0.001]}
                lr_scheduler: {warmup_updates: 2}
                checkpoint: {save_interval_updates: 2}
                distributed_training: {distributed_world_size: %d, min_world_size: 1, step_timeout_s: %d}
                """.formatted(maxUpdate, worldSize, stepTimeoutSeconds), "test"));
    }

    private final ActorRefResolver resolver = ActorRefResolver.get(KIT.system());

    private void register(ActorRef<Coordinator.Command> c, String id, TestProbe<WorkerInbound> probe, int stream) {
        c.tell(new Coordinator.FromWorker(CoordinatorInbound.newBuilder().setRegisterWorker(RegisterWorker.newBuilder()
                .setWorkerId(id).setInbox(resolver.toSerializationFormat(probe.ref()))
                .setDataPlane(DataPlaneEndpoint.newBuilder().setChannel("aeron:ipc").setStreamId(stream))).build()));
    }

    private static StartGeneration expectStart(TestProbe<WorkerInbound> p) {
        WorkerInbound m = p.expectMessageClass(WorkerInbound.class, Duration.ofSeconds(5));
        assertTrue(m.hasStartGeneration(), "expected StartGeneration, got " + m);
        return m.getStartGeneration();
    }

    private static void ready(ActorRef<Coordinator.Command> c, StartGeneration g, long step, long checksum) {
        c.tell(new Coordinator.FromWorker(CoordinatorInbound.newBuilder().setGenerationReady(GenerationReady.newBuilder()
                .setGeneration(g.getGeneration()).setRank(g.getRank()).setStep(step).setParamChecksum(checksum)).build()));
    }

    private static void expectDropped(TestProbe<WorkerInbound> p, long generation) {
        WorkerInbound m = p.expectMessageClass(WorkerInbound.class, Duration.ofSeconds(5));
        assertTrue(m.hasDropped(), "expected Dropped, got " + m);
        assertEquals(generation, m.getDropped().getGeneration());
    }

    private static long expectRunStep(TestProbe<WorkerInbound> p, long generation) {
        WorkerInbound m = p.expectMessageClass(WorkerInbound.class, Duration.ofSeconds(5));
        assertTrue(m.hasRunStep(), "expected RunStep, got " + m);
        assertEquals(generation, m.getRunStep().getGeneration());
        return m.getRunStep().getStep();
    }

    private static void stepDone(ActorRef<Coordinator.Command> c, long gen, long step, int rank, long checksum) {
        c.tell(new Coordinator.FromWorker(CoordinatorInbound.newBuilder().setStepDone(StepDone.newBuilder()
                .setGeneration(gen).setStep(step).setRank(rank).setParamChecksum(checksum)
                .setMetrics(StepMetrics.newBuilder().setLoss(3.0 - step).setGradNorm(1.5).addMaskedAccuracy(0.1))).build()));
    }

    @Test
    void drivesStepsCheckpointsAndContinuesWithSurvivorsAfterALoss(@TempDir Path run) throws Exception {
        CompletableFuture<Long> done = new CompletableFuture<>();
        var c = KIT.spawn(Coordinator.create(CoordinatorSettings.fresh(config(3, 2), run, 16), new RunListener() {
            @Override
            public void onFinished(long steps) {
                done.complete(steps);
            }
        }));
        TestProbe<WorkerInbound> w0 = KIT.createTestProbe(), w1 = KIT.createTestProbe();
        register(c, "w0", w0, 1001);
        w0.expectNoMessage(Duration.ofMillis(200)); // waits for distributed_world_size=2
        register(c, "w1", w1, 1002);
        StartGeneration g0 = expectStart(w0), g1 = expectStart(w1);
        assertEquals(List.of(0, 1), List.of(g0.getRank(), g1.getRank()));
        assertEquals(2, g0.getWorldSize());
        assertEquals(1002, g0.getRing(1).getStreamId());
        assertEquals("", g0.getRestoreCheckpoint());
        long gen = g0.getGeneration();

        ready(c, g0, 0, 42);
        ready(c, g1, 0, 42);
        for (long step = 0; step < 2; step++) {
            assertEquals(step, expectRunStep(w0, gen));
            assertEquals(step, expectRunStep(w1, gen));
            stepDone(c, gen - 1, step, 0, 1); // a stale generation's report changes nothing
            stepDone(c, gen, step, 0, 100 + step);
            stepDone(c, gen, step, 1, 100 + step);
        }
        // save_interval_updates=2: rank 0 writes the checkpoint, nobody runs a step meanwhile
        WorkerInbound save = w0.expectMessageClass(WorkerInbound.class);
        assertTrue(save.hasSaveCheckpoint());
        assertEquals(2, save.getSaveCheckpoint().getStep());
        JsonNode state = JSON.readTree(save.getSaveCheckpoint().getTrainerStateJson());
        assertEquals(2, state.get("step").asLong());
        assertEquals(0, state.get("epoch").asLong());
        assertEquals(8, state.get("samples_consumed_in_epoch").asLong(), "16 clips, batch 4: step 2 starts at clip 8 of epoch 0");
        w1.expectNoMessage(Duration.ofMillis(100));
        Path ckpt = run.resolve("checkpoints/step-000000002");
        c.tell(new Coordinator.FromWorker(CoordinatorInbound.newBuilder().setCheckpointSaved(CheckpointSaved.newBuilder()
                .setGeneration(gen).setStep(2).setPath(ckpt.toString())).build()));
        assertEquals(2, expectRunStep(w0, gen));
        assertEquals(2, expectRunStep(w1, gen));

        // w1 dies mid-step: a new generation with the survivor re-runs step 2 without reloading
        w1.stop();
        StartGeneration again = expectStart(w0);
        assertEquals(gen + 1, again.getGeneration());
        assertEquals(1, again.getWorldSize());
        assertEquals(2, again.getStep());
        assertEquals(ckpt.toString(), again.getRestoreCheckpoint());
        assertFalse(again.getForceRestore());
        ready(c, again, 2, 101);
        assertEquals(2, expectRunStep(w0, gen + 1));
        stepDone(c, gen + 1, 2, 0, 102);
        WorkerInbound finalSave = w0.expectMessageClass(WorkerInbound.class);
        assertEquals(3, finalSave.getSaveCheckpoint().getStep());
        c.tell(new Coordinator.FromWorker(CoordinatorInbound.newBuilder().setCheckpointSaved(CheckpointSaved.newBuilder()
                .setGeneration(gen + 1).setStep(3).setPath(run.resolve("checkpoints/step-000000003").toString())).build()));
        assertTrue(w0.expectMessageClass(WorkerInbound.class).hasShutdown());
        assertEquals(3L, done.get(5, TimeUnit.SECONDS));

        List<String> lines = Files.readAllLines(run.resolve("metrics.jsonl"));
        assertEquals(3, lines.size());
        int[] world = new int[3];
        for (int i = 0; i < 3; i++) {
            JsonNode m = JSON.readTree(lines.get(i));
            assertEquals(i + 1, m.get("step").asInt());
            world[i] = m.get("world_size").asInt();
            for (String k : List.of("loss", "lr", "grad_norm", "generation", "samples_per_s")) assertTrue(m.has(k), k);
        }
        assertArrayEquals(new int[]{2, 2, 1}, world);
        long staleRecorded = Files.readAllLines(run.resolve("events.jsonl")).stream()
                .filter(l -> l.contains("\"stale_message_ignored\"") && l.contains("\"kind\":\"step_done\"")).count();
        assertEquals(2, staleRecorded, "each stale report is refused and recorded");
    }

    @Test
    void divergingChecksumsRollEveryoneBackToTheLastCheckpoint(@TempDir Path run) {
        var c = KIT.spawn(Coordinator.create(CoordinatorSettings.fresh(config(10, 2), run, 16), RunListener.NONE));
        TestProbe<WorkerInbound> w0 = KIT.createTestProbe(), w1 = KIT.createTestProbe();
        register(c, "a", w0, 1);
        register(c, "b", w1, 2);
        StartGeneration g0 = expectStart(w0), g1 = expectStart(w1);
        ready(c, g0, 0, 5);
        ready(c, g1, 0, 5);
        expectRunStep(w0, g0.getGeneration());
        expectRunStep(w1, g0.getGeneration());
        stepDone(c, g0.getGeneration(), 0, 0, 77);
        stepDone(c, g0.getGeneration(), 0, 1, 78);
        StartGeneration r0 = expectStart(w0);
        assertTrue(r0.getForceRestore());
        assertEquals(0, r0.getStep());
        expectStart(w1);
    }

    @Test
    void aFailedPeerIsDroppedAndTheStepRerunWithTheRest(@TempDir Path run) {
        var c = KIT.spawn(Coordinator.create(CoordinatorSettings.fresh(config(10, 3), run, 16), RunListener.NONE));
        List<TestProbe<WorkerInbound>> w = List.of(KIT.createTestProbe(), KIT.createTestProbe(), KIT.createTestProbe());
        for (int i = 0; i < 3; i++) register(c, "w" + i, w.get(i), i);
        StartGeneration[] g = new StartGeneration[3];
        for (int i = 0; i < 3; i++) g[i] = expectStart(w.get(i));
        for (int i = 0; i < 3; i++) ready(c, g[i], 0, 9);
        for (int i = 0; i < 3; i++) expectRunStep(w.get(i), g[0].getGeneration());
        c.tell(new Coordinator.FromWorker(CoordinatorInbound.newBuilder().setStepFailed(StepFailed.newBuilder()
                .setGeneration(g[0].getGeneration()).setStep(0).setRank(0).setFailedPeerRank(2).setReason("peer 2 silent")).build()));
        StartGeneration n0 = expectStart(w.get(0)), n1 = expectStart(w.get(1));
        assertEquals(2, n0.getWorldSize());
        assertEquals(List.of(0, 1), List.of(n0.getRank(), n1.getRank()));
        assertEquals(0, n0.getStep());
        expectDropped(w.get(2), g[0].getGeneration()); // it may be alive: told, so it can register again
        w.get(2).expectNoMessage(Duration.ofMillis(200));
    }

    @Test
    void anInjectedFrameRedoesTheStepWithEveryoneAndOnlyARepeatedOneBlamesTheUpstream(@TempDir Path run) {
        var c = KIT.spawn(Coordinator.create(CoordinatorSettings.fresh(config(10, 2), run, 16), RunListener.NONE));
        List<TestProbe<WorkerInbound>> w = List.of(KIT.createTestProbe(), KIT.createTestProbe());
        for (int i = 0; i < 2; i++) register(c, "w" + i, w.get(i), i);
        StartGeneration g = expectStart(w.get(0));
        expectStart(w.get(1));
        for (int round = 0; round < 4; round++) {
            for (int i = 0; i < 2; i++) ready(c, StartGeneration.newBuilder(g).setRank(i).build(), 0, 9);
            for (int i = 0; i < 2; i++) expectRunStep(w.get(i), g.getGeneration());
            c.tell(new Coordinator.FromWorker(CoordinatorInbound.newBuilder().setStepFailed(StepFailed.newBuilder()
                    .setGeneration(g.getGeneration()).setStep(0).setRank(1).setFailedPeerRank(0).setStreamCorrupted(true)
                    .setReason("chunk received twice")).build()));
            StartGeneration next;
            if (round < 3) {
                next = expectStart(w.get(0));
                assertEquals(2, next.getWorldSize(), "round " + round + ": the same members redo the step");
                expectStart(w.get(1));
            } else {
                next = expectStart(w.get(1));
                assertEquals(1, next.getWorldSize(), "a stream that stays corrupted drops the upstream (rank 0)");
                expectDropped(w.get(0), g.getGeneration());
                w.get(0).expectNoMessage(Duration.ofMillis(200));
            }
            assertTrue(next.getGeneration() > g.getGeneration());
            g = next;
        }
    }

    private static void readyAfterTransfer(ActorRef<Coordinator.Command> c, StartGeneration g, long step, long checksum, String error) {
        c.tell(new Coordinator.FromWorker(CoordinatorInbound.newBuilder().setGenerationReady(GenerationReady.newBuilder()
                .setGeneration(g.getGeneration()).setRank(g.getRank()).setStep(step).setParamChecksum(checksum)
                .setStateBytes(error.isEmpty() ? 4096 : 0).setStateTransferMs(3.5).setStateTransferError(error)).build()));
    }

    @Test
    void aJoinerGetsTheStateFromADonorAndAFailedTransferFallsBackToACheckpointByTheDonor(@TempDir Path run) throws Exception {
        var c = KIT.spawn(Coordinator.create(CoordinatorSettings.fresh(config(10, 1), run, 16), RunListener.NONE));
        TestProbe<WorkerInbound> w0 = KIT.createTestProbe(), w1 = KIT.createTestProbe(), w2 = KIT.createTestProbe();
        register(c, "w0", w0, 1);
        StartGeneration g = expectStart(w0);
        assertFalse(g.getStateTransfer(), "nobody holds state yet: everyone starts from the seed");
        ready(c, g, 0, 5);
        expectRunStep(w0, g.getGeneration());
        register(c, "w1", w1, 2); // admitted at the next step boundary
        stepDone(c, g.getGeneration(), 0, 0, 100);

        // no checkpoint for the join: straight to a generation in which rank 0 streams its state to rank 1
        StartGeneration d0 = expectStart(w0), d1 = expectStart(w1);
        for (StartGeneration x : List.of(d0, d1)) {
            assertTrue(x.getStateTransfer());
            assertEquals(0, x.getStateDonorRank());
            assertEquals(List.of(1), x.getStateReceiverRanksList());
            assertEquals("", x.getRestoreCheckpoint());
            assertEquals(1, x.getStep());
        }
        // the receiver's checksums did not match the donor's manifest: the donor writes a checkpoint ...
        readyAfterTransfer(c, d0, 1, 100, "");
        readyAfterTransfer(c, d1, -1, 0, "parameters checksum 1 but the donor announced 2");
        WorkerInbound save = w0.expectMessageClass(WorkerInbound.class, Duration.ofSeconds(5));
        assertTrue(save.hasSaveCheckpoint(), "expected SaveCheckpoint for the donor, got " + save);
        assertEquals(1, save.getSaveCheckpoint().getStep());
        w1.expectNoMessage(Duration.ofMillis(100));
        Path ckpt = run.resolve("checkpoints/step-000000001");
        c.tell(new Coordinator.FromWorker(CoordinatorInbound.newBuilder().setCheckpointSaved(CheckpointSaved.newBuilder()
                .setGeneration(d0.getGeneration()).setStep(1).setPath(ckpt.toString())).build()));
        // ... and the next generation restores the joiner from it
        StartGeneration f0 = expectStart(w0), f1 = expectStart(w1);
        for (StartGeneration x : List.of(f0, f1)) {
            assertFalse(x.getStateTransfer());
            assertEquals(ckpt.toString(), x.getRestoreCheckpoint());
        }
        ready(c, f0, 1, 100);
        ready(c, f1, 1, 100);
        expectRunStep(w0, f0.getGeneration());
        expectRunStep(w1, f0.getGeneration());

        // a third worker joins at step 2; both current workers could donate: the lowest rank does
        register(c, "w2", w2, 3);
        stepDone(c, f0.getGeneration(), 1, 0, 200);
        stepDone(c, f0.getGeneration(), 1, 1, 200);
        assertTrue(w0.expectMessageClass(WorkerInbound.class, Duration.ofSeconds(5)).hasSaveCheckpoint(), "save_interval_updates=2");
        c.tell(new Coordinator.FromWorker(CoordinatorInbound.newBuilder().setCheckpointSaved(CheckpointSaved.newBuilder()
                .setGeneration(f0.getGeneration()).setStep(2).setPath(run.resolve("checkpoints/step-000000002").toString())).build()));
        StartGeneration[] t = {expectStart(w0), expectStart(w1), expectStart(w2)};
        for (StartGeneration x : t) {
            assertTrue(x.getStateTransfer(), "a donor exists, so even with a checkpoint at hand the state travels over Aeron");
            assertEquals(0, x.getStateDonorRank());
            assertEquals(List.of(2), x.getStateReceiverRanksList());
        }
        for (StartGeneration x : t) readyAfterTransfer(c, x, 2, 200, "");
        for (var w : List.of(w0, w1, w2)) assertEquals(2, expectRunStep(w, t[0].getGeneration()));

        List<JsonNode> events = new java.util.ArrayList<>();
        for (String line : Files.readAllLines(run.resolve("events.jsonl"))) events.add(JSON.readTree(line));
        JsonNode failed = events.stream().filter(e -> e.get("event").asText().equals("state_transfer_failed")).findFirst().orElseThrow();
        assertEquals("w0", failed.get("donor").asText());
        assertEquals("w1", failed.get("receivers").get(0).asText());
        List<JsonNode> moved = events.stream().filter(e -> e.get("event").asText().equals("state_transferred")).toList();
        assertEquals(1, moved.size());
        assertEquals("w0", moved.get(0).get("donor").asText());
        assertEquals("w2", moved.get(0).get("receivers").get(0).asText());
        assertEquals(4096, moved.get(0).get("bytes").asLong());
        assertEquals(2, moved.get(0).get("step").asLong());
    }

    @Test
    void stateTransferCheckpointSendsJoinersThroughACheckpoint(@TempDir Path run) {
        TrainConfig cfg = TrainConfig.from(config(10, 1).tree().withOverrides(List.of("distributed_training.state_transfer=checkpoint")));
        var c = KIT.spawn(Coordinator.create(CoordinatorSettings.fresh(cfg, run, 16), RunListener.NONE));
        TestProbe<WorkerInbound> w0 = KIT.createTestProbe(), w1 = KIT.createTestProbe();
        register(c, "w0", w0, 1);
        StartGeneration g = expectStart(w0);
        ready(c, g, 0, 5);
        expectRunStep(w0, g.getGeneration());
        register(c, "w1", w1, 2);
        stepDone(c, g.getGeneration(), 0, 0, 100);
        assertTrue(w0.expectMessageClass(WorkerInbound.class, Duration.ofSeconds(5)).hasSaveCheckpoint());
    }

    @Test
    void anUnknownStateTransferValueIsRefusedNamingTheKey() {
        var e = assertThrows(io.mert.model.config.ConfigException.class,
                () -> TrainConfig.from(config(10, 1).tree().withOverrides(List.of("distributed_training.state_transfer=nfs"))));
        assertTrue(e.getMessage().contains("distributed_training.state_transfer='nfs'"), e.getMessage());
        assertTrue(e.getMessage().contains("aeron") && e.getMessage().contains("checkpoint"), e.getMessage());
    }

    /**
     * A worker that cannot join a generation (it reports StepFailed while the generation starts) is
     * dropped at once, not after the step timeout (30 s here: the test waits 5 s at most). It is told
     * so; when it registers again it is admitted at the next step boundary, with the state from a
     * donor.
     */
    @Test
    void aWorkerThatCannotJoinIsDroppedAtOnceAndAdmittedAgainAtTheNextBoundary(@TempDir Path run) {
        var c = KIT.spawn(Coordinator.create(CoordinatorSettings.fresh(config(10, 3), run, 16), RunListener.NONE));
        List<TestProbe<WorkerInbound>> w = List.of(KIT.createTestProbe(), KIT.createTestProbe(), KIT.createTestProbe());
        for (int i = 0; i < 3; i++) register(c, "w" + i, w.get(i), i);
        StartGeneration[] g = new StartGeneration[3];
        for (int i = 0; i < 3; i++) g[i] = expectStart(w.get(i));
        long gen = g[0].getGeneration();
        ready(c, g[0], 0, 9);
        ready(c, g[1], 0, 9);
        c.tell(new Coordinator.FromWorker(CoordinatorInbound.newBuilder().setStepFailed(StepFailed.newBuilder()
                .setGeneration(gen).setStep(0).setRank(2).setFailedPeerRank(-1)
                .setReason("cannot start generation: client is closed")).build()));
        StartGeneration n0 = expectStart(w.get(0)), n1 = expectStart(w.get(1));
        assertEquals(gen + 1, n0.getGeneration());
        assertEquals(2, n0.getWorldSize());
        expectDropped(w.get(2), gen);

        register(c, "w2", w.get(2), 2); // what a worker does when told it was dropped
        ready(c, n0, 0, 9);
        ready(c, n1, 0, 9);
        for (int i = 0; i < 2; i++) expectRunStep(w.get(i), gen + 1);
        w.get(2).expectNoMessage(Duration.ofMillis(200)); // not in the middle of a step
        stepDone(c, gen + 1, 0, 0, 10);
        stepDone(c, gen + 1, 0, 1, 10);
        // admitted at the boundary like any joiner: a current worker streams it the state
        StartGeneration back = expectStart(w.get(2));
        assertEquals(gen + 2, back.getGeneration());
        assertEquals(3, back.getWorldSize());
        assertEquals(1, back.getStep());
        assertTrue(back.getStateTransfer(), "the returning worker gets the state from a donor");
        assertEquals(0, back.getStateDonorRank());
        assertEquals(List.of(back.getRank()), back.getStateReceiverRanksList());
        assertEquals("", back.getRestoreCheckpoint());
    }

    /** A worker silent past the step timeout is dropped and told so (it may only have been slow). */
    @Test
    void aWorkerSilentPastTheStepTimeoutIsDroppedAndToldSo(@TempDir Path run) {
        var c = KIT.spawn(Coordinator.create(CoordinatorSettings.fresh(config(10, 2, 1), run, 16), RunListener.NONE));
        TestProbe<WorkerInbound> w0 = KIT.createTestProbe(), w1 = KIT.createTestProbe();
        register(c, "w0", w0, 1);
        register(c, "w1", w1, 2);
        StartGeneration g0 = expectStart(w0), g1 = expectStart(w1);
        ready(c, g0, 0, 9);
        ready(c, g1, 0, 9);
        expectRunStep(w0, g0.getGeneration());
        expectRunStep(w1, g0.getGeneration());
        stepDone(c, g0.getGeneration(), 0, 0, 10); // w1 never reports
        WorkerInbound m = w1.expectMessageClass(WorkerInbound.class, Duration.ofSeconds(10));
        assertTrue(m.hasDropped(), "expected Dropped, got " + m);
        assertEquals(g0.getGeneration(), m.getDropped().getGeneration());
        assertTrue(m.getDropped().getReason().startsWith("no reply within 1 s"), m.getDropped().getReason());
        StartGeneration alone = expectStart(w0);
        assertEquals(1, alone.getWorldSize());
    }
}
