package io.mert.worker;

import io.mert.allreduce.PeerFailureException;
import io.mert.allreduce.RingAllReduce;
import io.mert.allreduce.ShmAllReduce;
import io.mert.data.ReadableClips;
import io.mert.data.TrainingClips;
import io.mert.data.UnreadableAudioException;
import io.mert.model.Batch;
import io.mert.model.MertConfig;
import io.mert.model.config.MixupConfig;
import io.mert.model.nn.MertNetwork;
import io.mert.model.nn.StepStats;
import io.mert.model.checkpoint.CheckpointStore;
import io.mert.model.checkpoint.LoadedCheckpoint;
import io.mert.model.checkpoint.TrainerState;
import io.mert.model.config.TrainConfig;
import io.mert.model.features.Cqt;
import io.mert.model.optim.AdamW;
import io.mert.model.optim.DynamicLossScaler;
import io.mert.model.optim.FlatArrays;
import io.mert.model.optim.GradientClipper;
import io.mert.model.optim.ParameterChecksum;
import io.mert.protocol.ShardPlan;
import io.mert.protocol.control.StepMetrics;
import io.mert.protocol.control.StepTimings;
import io.mert.protocol.frame.WireFormat;
import org.agrona.concurrent.AtomicBuffer;
import org.agrona.concurrent.UnsafeBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.io.IOException;
import java.nio.file.Path;

/**
 * One worker's training state and its synchronous step: take the batch (built ahead on a loader thread
 * while the previous step computed, see {@link BatchPrefetcher}), forward and backward,
 * allreduce the gradients together with the step's statistics, normalise by the global number of
 * supervised frames (fairseq's sample_size), clip, AdamW. Parameters change only after a complete
 * allreduce, so a failed step leaves them as they were.
 */
final class TrainingSession implements AutoCloseable {

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(TrainingSession.class);

    /** Per-step statistics summed by the same allreduce as the gradients, after them in the buffer. */
    private static final int SUPERVISED = 0, LOSS = 1, FEATURE_PENALTY = 2, CQT = 3, SAMPLES = 4, DATA_ERRORS = 5, PER_STREAM = 6;

    private final TrainConfig config;
    private final String configHash;
    private final MertNetwork network;
    private final BatchPrefetcher batches;  // StepBatches, built ahead on a loader thread (dataset.prefetch_batches)
    private final AdamW optimizer;
    private final GradientClipper clipper;
    /** common.fp16's dynamic loss scale; null in float32 and bfloat16 */
    private final DynamicLossScaler scaler;
    private final RingAllReduce ring;
    private final int streams;
    private final long paramCount;
    private final INDArray ownReduceBuffer;   // [gradients | statistics], for the Aeron ring
    private INDArray reduceBuffer;            // that, or this rank's area of the shared-memory allreduce
    private INDArray gradients;               // view of reduceBuffer's first paramCount floats
    private UnsafeBuffer wire;                // the same memory as reduceBuffer, for the allreduce
    private INDArray summedGradients;         // the step's summed gradients: gradients (ring), or the shm's shared result
    private UnsafeBuffer summed;              // the summed buffer, statistics included
    private final UnsafeBuffer sharedSum = new UnsafeBuffer(0, 0);
    private INDArray sharedGradients;         // view of the shm's shared result, remade when it moves (a new generation)
    private final int statsOffset;
    private final int statCount;
    private final ShardPlan plan;
    private final WireFormat allreduceWire;
    private ShmAllReduce shm;                 // sums the gradients instead of the ring when set (allreduce_transport: shm)
    private long completedSteps;
    private ValidationSet validation;

    TrainingSession(TrainConfig config, String configHash, TrainingClips clips, RingAllReduce ring) {
        this.config = config;
        this.configHash = configHash;
        this.ring = ring;
        MertConfig model = config.model();
        this.streams = model.labelClasses().size();
        this.network = new MertNetwork(model, config.maxSampleSize(), config.seed(), config.precision());
        this.scaler = config.precision().scalesLoss() ? new DynamicLossScaler(config.lossScale()) : null;
        if (config.precision() != io.mert.model.config.Precision.FP32 && Nd4j.getBackend().getClass().getName().contains("Cpu")) {
            LOG.warn("common.{} on ND4J's CPU backend: its {} matrix products are generic loops, tens to hundreds of times slower "
                    + "than float32 ones; mixed precision pays off on GPUs (the cuda build)", config.precision().configName(),
                    config.precision().matmulType());
        }
        StepBatches steps = new StepBatches(new BatchAssembler(model, new ReadableClips(clips), config.strictData(), Cqt.mert(),
                config.maxSampleSize(), config.seed(), MixupConfig.from(config.tree())), SessionFactories.plan(config, clips));
        this.plan = steps.plan();
        this.batches = new BatchPrefetcher(steps::build, config.prefetchBatches());
        this.paramCount = network.layout().totalSize();
        // the update uses as many threads as this worker's ND4J ops (one each for two workers on two cores)
        this.optimizer = new AdamW(paramCount, new AdamW.Config(config.beta1(), config.beta2(), config.adamEps(), config.weightDecay()),
                Math.max(1, Nd4j.getEnvironment().maxThreads()));
        this.clipper = new GradientClipper(config.clipNorm());
        this.statCount = PER_STREAM + 2 * streams;
        this.allreduceWire = WireFormat.parse(config.allreduceWire(), "distributed_training.allreduce_wire");
        this.ownReduceBuffer = Nd4j.create(DataType.FLOAT, paramCount + statCount);
        reduceInto(ownReduceBuffer);
        this.statsOffset = Math.toIntExact(paramCount * Float.BYTES);
    }

    /**
     * Sums the following steps' gradients and statistics through {@code shared} (this generation's, already started),
     * or through the Aeron ring when null. The state transfer always takes the ring.
     */
    void reduceThrough(ShmAllReduce shared) {
        this.shm = shared;
        // With shared memory the step computes its gradients straight into this rank's area, and the allreduce sums the
        // areas into one result that every rank's update reads where it lies: no copy in, out, or all-gather. The area
        // is remapped with each generation, so the views are made again here.
        if (shared == null) {
            reduceInto(ownReduceBuffer);
        } else {
            if (shared.capacityFloats() < paramCount + statCount) {
                throw new IllegalArgumentException("shared-memory area of " + shared.capacityFloats() + " floats for " + (paramCount + statCount));
            }
            reduceInto(FlatArrays.floatsAt(shared.buffer().addressOffset(), paramCount + statCount));
        }
    }

    private void reduceInto(INDArray buffer) {
        reduceBuffer = buffer;
        gradients = buffer.get(NDArrayIndex.interval(0, paramCount));
        wire = new UnsafeBuffer(buffer.data().addressPointer().address(), Math.toIntExact((paramCount + statCount) * Float.BYTES));
        summed = wire;
        summedGradients = gradients;
        sharedGradients = null;
    }

    /** Points the summed views at the shm's shared result of this step; a new view only when the result moved. */
    private void readSharedResult(AtomicBuffer result) {
        if (sharedGradients == null || sharedSum.addressOffset() != result.addressOffset()) {
            sharedSum.wrap(result.addressOffset(), result.capacity());
            sharedGradients = FlatArrays.floatsAt(result.addressOffset(), paramCount);
        }
        summed = sharedSum;
        summedGradients = sharedGradients;
    }

    /** {@code distributed_training.allreduce_transport}: the Aeron ring or shared memory. */
    io.mert.model.config.TrainConfig.AllReduceTransport allreduceTransport() {
        return config.allreduceTransport();
    }

    /** Floats of the buffer each step allreduces. */
    int allreduceFloats() {
        return Math.toIntExact(reduceBuffer.length());
    }

    /** How this run's gradients travel in the allreduce; the statistics always go as float32. */
    WireFormat allreduceWire() {
        return allreduceWire;
    }

    String configHash() {
        return configHash;
    }

    long completedSteps() {
        return completedSteps;
    }

    long parameterChecksum() {
        return ParameterChecksum.of(network.parameters());
    }

    /**
     * Runs step {@code step} (0-based) as {@code rank} of {@code worldSize}; returns what the coordinator needs.
     *
     * @throws TrainingDataException when a clip of the step cannot be read and may not be skipped: then
     *                               no rank updates its parameters (the error travels through the allreduce)
     */
    StepResult run(long step, double lr, int rank, int worldSize) throws PeerFailureException, TrainingDataException {
        if (step != completedSteps) {
            throw new IllegalStateException("asked to run step " + step + " but this worker has completed " + completedSteps);
        }
        long t0 = System.nanoTime();
        StepBatches.Built rows = null;
        UnreadableAudioException unreadable = null;
        try {
            rows = batches.take(step, rank, worldSize); // the data time is what the step waited for its batch
        } catch (UnreadableAudioException e) {
            unreadable = e;
        }
        long digest = rows == null ? 0 : rows.digest();
        long t1 = System.nanoTime();
        double lossScale = scaler == null ? 1.0 : scaler.scale();

        if (rows != null && rows.batch().size() == 0) {
            reduceBuffer.assign(0); // an epoch's last batch by tokens may have fewer clips than ranks: this one adds nothing
        } else if (rows != null) {
            Batch batch = rows.batch();
            int global = plan.batchSize(step);
            StepStats s = network.computeGradients(batch, gradients, ShardPlan.mix(config.seed(), step * 65_537L + rank), lossScale);
            putStat(SUPERVISED, s.maskedFrames());
            putStat(LOSS, s.loss());
            putStat(FEATURE_PENALTY, s.featurePenalty() * batch.size() / global); // sums to the global batch's mean
            putStat(CQT, s.cqtMse() * s.maskedFrames());
            putStat(SAMPLES, batch.size());
            putStat(DATA_ERRORS, 0);
            for (int k = 0; k < streams; k++) {
                putStat(PER_STREAM + k, s.crossEntropySum()[k]);
                putStat(PER_STREAM + streams + k, s.correct()[k]);
            }
        } else {
            // Still take part in the allreduce, so the other ranks are not left waiting, and tell them
            // through it that nobody may apply this step.
            reduceBuffer.assign(0);
            putStat(DATA_ERRORS, 1);
        }
        long t2 = System.nanoTime();

        // the statistics (counts, loss sums) stay float32 whatever the gradients' wire format
        if (shm != null) readSharedResult(shm.allreduceShared(Math.toIntExact(reduceBuffer.length()), step)); // float32 only
        else ring.allreduce(wire, Math.toIntExact(reduceBuffer.length()), statCount, step);
        long t3 = System.nanoTime();

        if (stat(DATA_ERRORS) > 0) {
            throw unreadable == null ? new TrainingDataException(step, null, null)
                    : new TrainingDataException(step, unreadable.path(), unreadable.reason());
        }
        double supervised = stat(SUPERVISED);
        double unscale = Math.max(supervised, 1) * lossScale; // fp16: the gradients are those of loss x scale
        // The summed gradients are only read (with shm every rank on the host reads the same memory): as fairseq's FP16
        // optimizer does, the 1/unscale and clip factors become one multiplier that the update applies as it reads.
        double gradNorm = GradientClipper.l2Norm(summedGradients) / unscale;
        float gradScale = (float) (clipper.coefficient(gradNorm) / unscale);
        // Every rank holds the same summed gradients, so every rank skips a non-finite update alike (and every
        // rank's loss scaler takes the same decision).
        boolean overflow = false;
        if (scaler != null) {
            overflow = scaler.overflowed(gradNorm); // throws when the scale falls to common.min_loss_scale
            if (overflow) {
                LOG.info("step {}: fp16 gradient overflow, update skipped; loss scale {} -> {}", step, lossScale, scaler.scale());
            } else {
                optimizer.step(network.parameters(), summedGradients, lr, gradScale);
                scaler.update();
            }
        } else if (Double.isFinite(gradNorm)) {
            optimizer.step(network.parameters(), summedGradients, lr, gradScale);
        } else {
            LOG.warn("step {}: gradient norm is {}, update skipped", step, gradNorm);
        }
        completedSteps++;
        long checksum = parameterChecksum();
        long t4 = System.nanoTime();

        double n = Math.max(supervised, 1);
        StepMetrics.Builder m = StepMetrics.newBuilder()
                .setLoss(stat(LOSS) / n)
                .setFeaturePenalty(stat(FEATURE_PENALTY))
                .setCqtLoss(stat(CQT) / n)
                .setSupervisedFrames((long) supervised)
                .setGradNorm(overflow ? 0 : gradNorm)
                .setSamples((int) stat(SAMPLES))
                .setLossScale(scaler == null ? 0 : lossScale)
                .setOverflow(overflow);
        for (int k = 0; k < streams; k++) {
            m.addAcousticLoss(stat(PER_STREAM + k) / n);
            m.addMaskedAccuracy(stat(PER_STREAM + streams + k) / n);
        }
        StepTimings timings = StepTimings.newBuilder().setDataMs((t1 - t0) / 1e6).setComputeMs((t2 - t1) / 1e6)
                .setAllreduceMs((t3 - t2) / 1e6).setUpdateMs((t4 - t3) / 1e6).build();
        return new StepResult(m.build(), timings, checksum, digest, rows.replaced());
    }

    record StepResult(StepMetrics metrics, StepTimings timings, long checksum, long sampleDigest,
                      java.util.List<BatchAssembler.Replaced> replaced) {
    }

    private void putStat(int slot, double v) {
        wire.putFloat(statsOffset + slot * Float.BYTES, (float) v);
    }

    private double stat(int slot) {
        return summed.getFloat(statsOffset + slot * Float.BYTES);
    }

    /**
     * This rank's share of a validation pass with the current parameters (which it does not change).
     * The split is opened on first use; null sums with {@link ValidationSet#unavailable()} when there is none.
     */
    ValidationSet validation() throws IOException {
        if (validation == null) validation = ValidationSet.open(config);
        return validation;
    }

    ValidationSet.Sums validate(long step, int rank, int worldSize) throws IOException {
        if (step != completedSteps) {
            throw new IllegalStateException("asked to validate after step " + step + " but this worker has completed " + completedSteps);
        }
        return validation().evaluate(network, streams, rank, worldSize);
    }

    /** Bytes of the float32 buffer each step allreduces: gradients, then the step's statistics. */
    long allreduceBytes() {
        return reduceBuffer.length() * Float.BYTES;
    }

    /** Writes a checkpoint of the state after {@code step} updates; returns its directory. */
    Path saveCheckpoint(Path runDir, long step, String trainerStateJson) throws IOException {
        if (step != completedSteps) {
            throw new IllegalStateException("checkpoint requested at step " + step + " but this worker is at " + completedSteps);
        }
        TrainerState state = TrainerState.fromJson(trainerStateJson.getBytes(java.nio.charset.StandardCharsets.UTF_8),
                "trainer state from the coordinator");
        if (scaler != null) state = state.withExtra(LOSS_SCALER, scaler.state().toMap());
        return new CheckpointStore(runDir, config.keepLast()).save(step, network.layout(), network.parameters(),
                optimizer.expAvg(), optimizer.expAvgSq(), optimizer.stepCount(), state);
    }

    /** Loads parameters and optimizer state from a checkpoint directory (verifying its checksums). */
    void restore(Path checkpoint) throws IOException {
        LoadedCheckpoint c = new CheckpointStore(checkpoint.getParent().getParent(), config.keepLast()).load(checkpoint);
        c.readModel(network.layout(), network.parameters());
        c.readOptimizer(network.layout(), optimizer.expAvg(), optimizer.expAvgSq());
        optimizer.setStepCount(c.optimizerStep());
        if (scaler != null) {
            Object saved = c.state().extra().get(LOSS_SCALER);
            if (saved == null) {
                scaler.reset();
                LOG.info("checkpoint {} holds no fp16 loss scale (written without common.fp16): starting from {}", checkpoint, scaler.scale());
            } else {
                String source = checkpoint + " trainer_state.json extra." + LOSS_SCALER;
                try {
                    scaler.restore(DynamicLossScaler.State.fromMap(saved, source));
                } catch (IllegalArgumentException e) {
                    throw new io.mert.model.checkpoint.CheckpointFormatException(e.getMessage() + " (not a loss scaler state)", e);
                }
            }
        }
        completedSteps = c.step();
    }

    /** The key of fp16's loss scaler state in a checkpoint's trainer_state.json {@code extra}. */
    static final String LOSS_SCALER = "loss_scaler";

    /** Bytes moved by a state transfer and how long it took on this rank. */
    record StateTransfer(long bytes, double millis) {
    }

    private static final long STATE_MAGIC = 0x4d45525453544154L; // "MERTSTAT"
    private static final int MANIFEST_LONGS = 16;
    private static final int M_MAGIC = 0, M_STEP = 1, M_OPTIMIZER_STEP = 2, M_PARAM_COUNT = 3, M_PARAMS = 4, M_EXP_AVG = 5,
            M_EXP_AVG_SQ = 6, M_SCALE = 7, M_SCALER_ITER = 8, M_LAST_OVERFLOW = 9, M_LAST_RESCALE = 10, M_OVERFLOWS = 11;

    /**
     * Takes part in a state transfer from rank {@code donor} (see {@link RingAllReduce#transferState}): the
     * donor streams everything a checkpoint restore sets (a manifest with the step counters, the element
     * count and checksums; the flat parameters; AdamW's first and second moments) along the ring. A receiver
     * overwrites its state and then checks the checksums of what it got against the donor's manifest; until
     * that passes it holds no usable state ({@link #completedSteps()} is -1), so a failed transfer cannot
     * leave a half-written model behind that looks current. Ranks that already hold the state only relay it.
     *
     * @throws IOException when the received state does not match the donor's manifest
     */
    StateTransfer transferState(long expectedStep, int donor, boolean receive) throws PeerFailureException, IOException {
        long t0 = System.nanoTime();
        // half the coordinator's step timeout: a stuck transfer is reported before the coordinator gives up on us
        java.time.Duration idleTimeout = java.time.Duration.ofMillis((long) (config.stepTimeoutSeconds() * 500));
        INDArray params = network.parameters(), expAvg = optimizer.expAvg(), expAvgSq = optimizer.expAvgSq();
        UnsafeBuffer manifest = new UnsafeBuffer(new byte[MANIFEST_LONGS * Long.BYTES]);
        if (!receive) {
            if (completedSteps != expectedStep) {
                throw new IllegalStateException("asked to pass on the state of step " + expectedStep + " but this worker is at " + completedSteps);
            }
            manifest.putLong(M_MAGIC * Long.BYTES, STATE_MAGIC);
            manifest.putLong(M_STEP * Long.BYTES, completedSteps);
            manifest.putLong(M_OPTIMIZER_STEP * Long.BYTES, optimizer.stepCount());
            manifest.putLong(M_PARAM_COUNT * Long.BYTES, paramCount);
            manifest.putLong(M_PARAMS * Long.BYTES, ParameterChecksum.of(params));
            manifest.putLong(M_EXP_AVG * Long.BYTES, ParameterChecksum.of(expAvg));
            manifest.putLong(M_EXP_AVG_SQ * Long.BYTES, ParameterChecksum.of(expAvgSq));
            if (scaler != null) {
                DynamicLossScaler.State ls = scaler.state();
                manifest.putLong(M_SCALE * Long.BYTES, Double.doubleToRawLongBits(ls.scale()));
                manifest.putLong(M_SCALER_ITER * Long.BYTES, ls.iter());
                manifest.putLong(M_LAST_OVERFLOW * Long.BYTES, ls.lastOverflowIter());
                manifest.putLong(M_LAST_RESCALE * Long.BYTES, ls.lastRescaleIter());
                manifest.putLong(M_OVERFLOWS * Long.BYTES, ls.overflowsSinceRescale());
            }
        } else {
            completedSteps = -1;
        }
        int n = Math.toIntExact(paramCount);
        AtomicBuffer[] parts = {manifest, wire(params), wire(expAvg), wire(expAvgSq)};
        int[] counts = {MANIFEST_LONGS * Long.BYTES / Float.BYTES, n, n, n};
        long bytes = ring.transferState(parts, counts, donor, receive, idleTimeout);
        if (receive) {
            FlatArrays.markHostWritten(params);
            FlatArrays.markHostWritten(expAvg);
            FlatArrays.markHostWritten(expAvgSq);
            verifyReceived(manifest, expectedStep, donor, params, expAvg, expAvgSq);
            optimizer.setStepCount(manifest.getLong(M_OPTIMIZER_STEP * Long.BYTES));
            if (scaler != null) {
                try {
                    scaler.restore(new DynamicLossScaler.State(Double.longBitsToDouble(manifest.getLong(M_SCALE * Long.BYTES)),
                            manifest.getLong(M_SCALER_ITER * Long.BYTES), manifest.getLong(M_LAST_OVERFLOW * Long.BYTES),
                            manifest.getLong(M_LAST_RESCALE * Long.BYTES), manifest.getLong(M_OVERFLOWS * Long.BYTES)));
                } catch (IllegalArgumentException e) {
                    completedSteps = -1;
                    throw new IOException("state received from donor rank " + donor + ": " + e.getMessage(), e);
                }
            }
            completedSteps = expectedStep;
        }
        return new StateTransfer(bytes, (System.nanoTime() - t0) / 1e6);
    }

    private void verifyReceived(UnsafeBuffer manifest, long expectedStep, int donor, INDArray params, INDArray expAvg,
                                INDArray expAvgSq) throws IOException {
        String from = "state received from donor rank " + donor;
        if (manifest.getLong(M_MAGIC * Long.BYTES) != STATE_MAGIC) throw new IOException(from + " has no valid manifest");
        if (manifest.getLong(M_PARAM_COUNT * Long.BYTES) != paramCount) {
            throw new IOException(from + " holds " + manifest.getLong(M_PARAM_COUNT * Long.BYTES) + " parameters, this model " + paramCount);
        }
        if (manifest.getLong(M_STEP * Long.BYTES) != expectedStep) {
            throw new IOException(from + " is at step " + manifest.getLong(M_STEP * Long.BYTES) + ", expected " + expectedStep);
        }
        check(from, "parameters", manifest.getLong(M_PARAMS * Long.BYTES), ParameterChecksum.of(params));
        check(from, "exp_avg", manifest.getLong(M_EXP_AVG * Long.BYTES), ParameterChecksum.of(expAvg));
        check(from, "exp_avg_sq", manifest.getLong(M_EXP_AVG_SQ * Long.BYTES), ParameterChecksum.of(expAvgSq));
    }

    private static void check(String from, String what, long announced, long actual) throws IOException {
        if (announced != actual) {
            throw new IOException(from + ": " + what + " checksum " + ParameterChecksum.hex(actual) + " but the donor announced "
                    + ParameterChecksum.hex(announced));
        }
    }

    /** The memory of a flat float array, for Aeron (the address includes a view's offset). */
    private static UnsafeBuffer wire(INDArray flat) {
        INDArray f = FlatArrays.requireFlatFloat(flat, "state buffer");
        Nd4j.getAffinityManager().ensureLocation(f, org.nd4j.linalg.api.concurrency.AffinityManager.Location.HOST);
        return new UnsafeBuffer(f.data().addressPointer().address(), Math.toIntExact(f.length() * Float.BYTES));
    }

    /** Back to the seeded initial parameters and a fresh optimizer (a run rolled back to step 0). */
    void reinitialise() {
        network.initialiseParameters(config.seed());
        optimizer.reset();
        if (scaler != null) scaler.reset();
        completedSteps = 0;
    }

    @Override
    public void close() {
        batches.close();
        network.close();
    }
}
