package io.mert.model.nn;

import io.mert.model.Batch;
import io.mert.model.MertConfig;
import io.mert.model.ParameterLayout;
import io.mert.model.config.Precision;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.api.OutAndGrad;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.OutputStream;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The MERT network (HuBERT architecture plus MERT's heads) for one crop length, with all parameters
 * in one flat float buffer laid out by {@link MertLayout}. Graphs are built once; batch size may vary
 * between calls. Not thread-safe: use one instance from one thread at a time.
 */
public final class MertNetwork implements AutoCloseable {

    /** {@code -Dmert.stepArena=false} leaves the sessions' memory to SameDiff (for comparison, or if reuse is ever suspected). */
    private static final boolean ARENAS = Boolean.parseBoolean(System.getProperty("mert.stepArena", "true"));
    /** {@code -Dmert.stepLiveness=false} keeps every array of a training step in use until the step ends. */
    private static final boolean LIVENESS = Boolean.parseBoolean(System.getProperty("mert.stepLiveness", "true"));

    private final MertConfig config;
    private final int cropSamples;
    private final ParameterLayout layout;
    private final INDArray parameters;
    private final MertGraph train;
    private final MertGraph eval;
    private final Precision precision;
    private final DropoutMasks dropoutMasks;
    private final List<String> statOutputs = new ArrayList<>();
    /** Each parameter's gradient variable in the gradient function (absent: it does not reach the loss). */
    private final Map<String, String> gradientNames = new HashMap<>();
    private final Map<Integer, Inputs> inputsByBatch = new HashMap<>();
    private final Set<StepArena> arenas = Collections.newSetFromMap(new IdentityHashMap<>());
    private MertGraph inferenceOtherLength;
    /** Training graphs for crops other than cropSamples (batches by tokens), the most recently used last. */
    private final java.util.LinkedHashMap<Integer, OtherLength> otherLengths = new java.util.LinkedHashMap<>(16, 0.75f, true);
    /** Graphs kept for other crop lengths; a length met again after eviction is rebuilt (seconds, not minutes). */
    static final int OTHER_LENGTHS_KEPT = 8;
    private boolean closed;
    private StepLiveness liveness;
    private boolean freeMidStep = LIVENESS;
    private OpTimeProfile profile;
    /** The training step recorded for replay without the session ({@link StepReplay}); null until recorded. */
    private StepReplay replay;
    /** False once a recording failed: the graph has an op the replay cannot repeat. */
    private boolean replayable = true;
    /** The gradient array the capture targets are views of, and the targets. */
    private INDArray targetsOf;
    private Map<String, INDArray> gradientTargets = Map.of();

    public MertNetwork(MertConfig config, int cropSamples, long initSeed) {
        this(config, cropSamples, initSeed, Precision.FP32);
    }

    /** @param precision the matrix products' arithmetic (parameters and gradients stay float32: see {@link Precision}) */
    public MertNetwork(MertConfig config, int cropSamples, long initSeed, Precision precision) {
        MertLayout.validate(config);
        int frames = config.framesFor(cropSamples);
        if (frames < 2) {
            throw new IllegalArgumentException("crop of " + cropSamples + " samples gives " + frames
                    + " frames; need at least 2 (frame stride " + config.frameStride() + ")");
        }
        this.config = config;
        this.precision = precision;
        this.cropSamples = cropSamples;
        this.layout = MertLayout.of(config);
        this.parameters = Nd4j.create(DataType.FLOAT, layout.totalSize());
        ParameterInit.initialize(layout, parameters, initSeed);
        this.train = new MertGraph(config, layout, parameters, cropSamples, true, precision);
        this.eval = train.dropouts.isEmpty() ? train : new MertGraph(config, layout, parameters, cropSamples, false, precision);
        this.dropoutMasks = new DropoutMasks(train.dropouts);
        quietly(train.sd::createGradFunction); // M2.1 prints "Added differentiated op ..." per op
        for (String p : train.parameterNames) {
            SDVariable g = train.sd.getVariable(p).getGradient();
            if (g != null) gradientNames.put(p, g.name());
        }
        statOutputs.add(train.loss);
        statOutputs.add(train.featurePenalty);
        statOutputs.add(train.cqtMse);
        statOutputs.add(train.maskedCount);
        statOutputs.addAll(List.of(train.crossEntropy));
        statOutputs.addAll(List.of(train.correct));
    }

    public MertConfig config() {
        return config;
    }

    public Precision precision() {
        return precision;
    }

    public ParameterLayout layout() {
        return layout;
    }

    public int cropSamples() {
        return cropSamples;
    }

    public int frames() {
        return train.frames;
    }

    /** Resets the parameters in place to the seeded initial values (a run rolled back to step 0). */
    public void initialiseParameters(long seed) {
        checkOpen();
        ParameterInit.initialize(layout, parameters, seed);
    }

    /** The live flat parameter buffer {@code [P]}: writes to it change the model. */
    public INDArray parameters() {
        return parameters;
    }

    /**
     * Forward and backward on {@code batch}; {@code gradOut} (flat, same layout) is overwritten with
     * d loss / d parameters, where loss is the fairseq-style sum (see {@link StepStats#loss()}).
     */
    public StepStats computeGradients(Batch batch, INDArray gradOut, long dropoutSeed) {
        return computeGradients(batch, gradOut, dropoutSeed, 1.0);
    }

    /**
     * As {@link #computeGradients(Batch, INDArray, long)} with fp16's loss scale: {@code gradOut} receives the gradients
     * of loss x {@code lossScale} (the statistics stay unscaled). Other precisions take no scale (1).
     */
    public StepStats computeGradients(Batch batch, INDArray gradOut, long dropoutSeed, double lossScale) {
        checkOpen();
        if (!precision.scalesLoss() && lossScale != 1.0) {
            throw new IllegalArgumentException("a loss scale of " + lossScale + " with " + precision.configName() + ": only fp16 scales the loss");
        }
        if (gradOut.rank() != 1 || gradOut.length() != layout.totalSize() || gradOut.dataType() != DataType.FLOAT) {
            throw new IllegalArgumentException("gradOut must be a rank-1 FLOAT array of " + layout.totalSize()
                    + " elements, got " + gradOut.dataType() + " shape " + java.util.Arrays.toString(gradOut.shape()));
        }
        if (batch.samples() != cropSamples) return otherLength(batch.samples()).computeGradients(batch, gradOut, dropoutSeed, lossScale);
        Map<String, INDArray> ph = inputs(batch);
        dropoutMasks.fill(batch.size(), dropoutSeed, ph);
        if (precision.scalesLoss()) ph.put(MertGraph.LOSS_SCALE, Nd4j.scalar((float) lossScale));
        SameDiff grad = train.sd.getFunction("grad");
        StepArena arena = arena(grad);
        attachLiveness(grad, arena);
        Map<String, INDArray> targets = captureTargets(gradOut);
        if (replay != null && (replay.arena() != arena || !replay.accepts(ph, grad))) {
            replay.close(); // another thread's arena, new shapes or new parameter arrays: record again
            replay = null;
        }
        if (replay != null) {
            replay.run(ph, targets, profile);
            copyGradients(replay.gradients(), replay::captures, gradOut);
            return stats(train, replay.outputs());
        }
        StepReplay.Recorder recorder = replayable(arena) ? new StepReplay.Recorder() : null;
        JavaKernelSession session = (JavaKernelSession) grad.getSessions().get(Thread.currentThread().getId());
        if (liveness != null) {
            liveness.reset();
            liveness.captureInto(targets);
        }
        OutAndGrad og;
        session.record(recorder);
        try {
            og = train.sd.calculateGradientsAndOutputs(ph, statOutputs, train.parameterNames);
        } finally {
            session.record(null);
        }
        copyGradients(og.getGradients(), name -> liveness != null && liveness.captured(name), gradOut);
        if (recorder != null) {
            Set<String> captured = new HashSet<>();
            for (String g : gradientNames.values()) if (liveness.captured(g)) captured.add(g);
            replay = recorder.finish(arena, grad, ph, captured, og.getOutputs(), og.getGradients());
            replayable = replay != null;
        }
        StepStats stats = stats(train, og.getOutputs());
        // every array of this step (gradients and outputs included) serves the next one; with a replay plan, the plan
        // uses them, and the session (which would hand them out again) runs this graph only after the plan is closed
        arena.recycle();
        return stats;
    }

    /**
     * Copies each parameter's gradient from {@code grads} (by parameter name) into its place in {@code gradOut}, except
     * those already copied mid-step ({@code copiedMidStep}, by gradient variable name); zeros where a parameter got none.
     */
    private void copyGradients(Map<String, INDArray> grads, java.util.function.Predicate<String> copiedMidStep, INDArray gradOut) {
        for (ParameterLayout.Entry e : layout.entries()) {
            String gradientName = gradientNames.get(e.name());
            if (gradientName != null && copiedMidStep.test(gradientName)) continue;
            INDArray g = grads.get(e.name());
            INDArray target = ParameterInit.view(gradOut, e);
            if (g == null) target.assign(0); // parameter did not reach the loss (e.g. no masked frame)
            else target.assign(g);
        }
    }

    /** Each parameter's gradient variable and its place in {@code gradOut}, where it goes as soon as it is computed. */
    private Map<String, INDArray> captureTargets(INDArray gradOut) {
        if (liveness == null) return Map.of();
        if (gradOut != targetsOf) {
            gradientTargets = new HashMap<>();
            for (ParameterLayout.Entry e : layout.entries()) {
                String g = gradientNames.get(e.name());
                if (g != null) gradientTargets.put(g, ParameterInit.view(gradOut, e));
            }
            targetsOf = gradOut;
        }
        return gradientTargets;
    }

    /** Whether the next recorded step may become a replay plan: it needs the arena and its liveness, and no failed recording. */
    private boolean replayable(StepArena arena) {
        return StepReplay.ENABLED && replayable && arena != StepArena.NONE && liveness != null && liveness.arena() == arena;
    }

    /** Forward only, no dropout: the same statistics as a training step, for validation. */
    public StepStats evaluate(Batch batch) {
        checkOpen();
        if (batch.samples() != cropSamples) return otherLength(batch.samples()).evaluate(batch);
        Map<String, INDArray> ph = inputs(batch);
        List<String> outs = new ArrayList<>();
        outs.add(eval.loss);
        outs.add(eval.featurePenalty);
        outs.add(eval.cqtMse);
        outs.add(eval.maskedCount);
        outs.addAll(List.of(eval.crossEntropy));
        outs.addAll(List.of(eval.correct));
        StepArena arena = arena(eval.sd);
        StepStats stats = stats(eval, eval.sd.output(ph, outs));
        arena.recycle();
        return stats;
    }

    /**
     * Hidden states of an unmasked forward pass without dropout, like HF's {@code output_hidden_states}:
     * {@code [encoderLayers+1][frames][encoderEmbedDim]}. Any waveform length works; lengths other than
     * the crop build (and keep) one extra inference graph.
     */
    public float[][][] hiddenStates(float[] waveform) {
        checkOpen();
        MertGraph g = graphForLength(waveform.length);
        Map<String, INDArray> ph = new HashMap<>();
        ph.put(MertGraph.WAVE, Nd4j.createFromArray(waveform).reshape(1, waveform.length));
        ph.put(MertGraph.MASK, Nd4j.zeros(DataType.FLOAT, 1, g.frames));
        StepArena arena = arena(g.sd);
        Map<String, INDArray> out = g.sd.output(ph, g.hidden);
        float[][][] result = new float[g.hidden.length][][];
        for (int i = 0; i < g.hidden.length; i++) {
            INDArray h = out.get(g.hidden[i]);
            result[i] = h.reshape(g.frames, config.encoderEmbedDim()).toFloatMatrix();
        }
        arena.recycle();
        return result;
    }

    /**
     * A network over the same parameter buffer for crops of {@code samples} (SameDiff graphs have a fixed
     * time length): built on first use, the last {@value #OTHER_LENGTHS_KEPT} lengths kept.
     */
    private MertNetwork otherLength(int samples) {
        OtherLength o = otherLengths.get(samples);
        if (o == null) {
            o = new OtherLength(new MertNetwork(this, samples));
            otherLengths.put(samples, o);
            if (otherLengths.size() > OTHER_LENGTHS_KEPT) {
                var eldest = otherLengths.entrySet().iterator().next();
                eldest.getValue().network().close();
                otherLengths.remove(eldest.getKey());
            }
        }
        return o.network();
    }

    private record OtherLength(MertNetwork network) {
    }

    /** The same model (parameters shared, not copied) for another crop length. */
    private MertNetwork(MertNetwork base, int cropSamples) {
        int frames = base.config.framesFor(cropSamples);
        if (frames < 2) {
            throw new IllegalArgumentException("crop of " + cropSamples + " samples gives " + frames
                    + " frames; need at least 2 (frame stride " + base.config.frameStride() + ")");
        }
        this.config = base.config;
        this.precision = base.precision;
        this.cropSamples = cropSamples;
        this.layout = base.layout;
        this.parameters = base.parameters;
        this.train = new MertGraph(config, layout, parameters, cropSamples, true, precision);
        this.eval = train.dropouts.isEmpty() ? train : new MertGraph(config, layout, parameters, cropSamples, false, precision);
        this.dropoutMasks = new DropoutMasks(train.dropouts);
        quietly(train.sd::createGradFunction);
        statOutputs.add(train.loss);
        statOutputs.add(train.featurePenalty);
        statOutputs.add(train.cqtMse);
        statOutputs.add(train.maskedCount);
        statOutputs.addAll(List.of(train.crossEntropy));
        statOutputs.addAll(List.of(train.correct));
    }

    private MertGraph graphForLength(int samples) {
        if (samples == cropSamples) return eval;
        if (config.framesFor(samples) < 1) {
            throw new IllegalArgumentException("waveform of " + samples + " samples is shorter than one frame");
        }
        if (inferenceOtherLength == null || inferenceOtherLength.samples != samples) {
            if (inferenceOtherLength != null) closeArenas(inferenceOtherLength.sd);
            inferenceOtherLength = new MertGraph(config, layout, parameters, samples, false, precision);
        }
        return inferenceOtherLength;
    }

    /**
     * The array arena of {@code fn}'s session on this thread (created on first use, closed with the network).
     * Sessions of other threads are dropped and their arenas closed: this class is used from one thread at a
     * time, and a pool thread that replaced an idle one must not leave a step's arrays behind per thread.
     */
    private StepArena arena(SameDiff fn) {
        if (!ARENAS) return StepArena.NONE;
        long self = Thread.currentThread().getId();
        fn.getSessions().entrySet().removeIf(e -> {
            if (e.getKey() == self) return false;
            if (e.getValue().getMmgr() instanceof StepArena a && arenas.remove(a)) a.close();
            return true;
        });
        StepArena a = StepArena.of(fn);
        arenas.add(a);
        return a;
    }

    /** Frees the training step's arrays mid-step in {@code arena} (a new arena, after a thread change, gets its own). */
    private void attachLiveness(SameDiff grad, StepArena arena) {
        if (!freeMidStep || arena == StepArena.NONE || (liveness != null && liveness.arena() == arena)) return;
        // parameter gradients are not kept: they are copied out when computed (captureInto)
        liveness = new StepLiveness(arena, grad, statOutputs);
        arena.useLiveness(liveness);
        installListeners();
    }

    private void installListeners() {
        // M2.1 runs the gradient function with the training graph's listeners
        List<org.nd4j.autodiff.listeners.Listener> ls = new ArrayList<>();
        if (liveness != null) ls.add(liveness);
        if (profile != null) ls.add(profile);
        org.nd4j.autodiff.listeners.Listener[] all = ls.toArray(new org.nd4j.autodiff.listeners.Listener[0]);
        train.sd.setListeners(all);
        SameDiff grad = train.sd.getFunction("grad");
        if (grad != null) grad.setListeners(all);
    }

    private void closeArenas(SameDiff fn) {
        for (var s : fn.getSessions().values()) {
            if (s.getMmgr() instanceof StepArena a && arenas.remove(a)) a.close();
        }
    }

    /** Keeps every array of a training step until the step ends, as {@code -Dmert.stepLiveness=false} (tests). */
    MertNetwork keepStepArraysToTheEnd() {
        freeMidStep = false;
        return this;
    }

    /** Runs every training step through SameDiff's session, as {@code -Dmert.stepReplay=false} (tests). */
    MertNetwork withoutReplay() {
        replayable = false;
        return this;
    }

    /** Ops of the recorded training step the next step will replay, or 0 when it will run through the session (tests). */
    int replayedOps() {
        return replay == null ? 0 : replay.opCount();
    }

    /** Recorded ops the replay leaves out, 0 without a replay plan (tests). */
    int replayLeftOut() {
        return replay == null ? 0 : replay.leftOut();
    }

    /** The training step's arena on this thread (tests). */
    StepArena trainingArena() {
        return StepArena.of(train.sd.getFunction("grad"));
    }

    /** Off-heap bytes held by this network's arenas (one step's working set per graph and thread). */
    public long arenaBytes() {
        long sum = 0;
        for (StepArena a : arenas) sum += a.pooledBytes();
        return sum;
    }

    private StepStats stats(MertGraph g, Map<String, INDArray> out) {
        int streams = config.labelClasses().size();
        double[] ce = new double[streams];
        int[] correct = new int[streams];
        for (int s = 0; s < streams; s++) {
            ce[s] = out.get(g.crossEntropy[s]).getDouble(0);
            correct[s] = (int) Math.round(out.get(g.correct[s]).getDouble(0));
        }
        return new StepStats(out.get(g.loss).getDouble(0), ce, correct,
                out.get(g.featurePenalty).getDouble(0), out.get(g.cqtMse).getDouble(0),
                (int) Math.round(out.get(g.maskedCount).getDouble(0)));
    }

    private Map<String, INDArray> inputs(Batch batch) {
        int frames = train.frames;
        int streams = config.labelClasses().size();
        if (batch.samples() != cropSamples || batch.frames() != frames) {
            throw new IllegalArgumentException("batch has " + batch.samples() + " samples / " + batch.frames()
                    + " frames per clip; this network takes " + cropSamples + " / " + frames);
        }
        if (batch.labels().length != streams) {
            throw new IllegalArgumentException("batch has " + batch.labels().length + " label streams; config has " + streams);
        }
        if (batch.cqt().length != (long) batch.size() * frames * config.cqtBins()) {
            throw new IllegalArgumentException("batch cqt has " + batch.cqt().length + " values; expected clips*frames*bins = "
                    + batch.size() + "*" + frames + "*" + config.cqtBins());
        }
        for (int s = 0; s < streams; s++) {
            int classes = config.labelClasses().get(s);
            for (int v : batch.labels()[s]) {
                if (v < 0 || v >= classes) {
                    throw new IllegalArgumentException("label " + v + " in stream " + s + " is outside [0," + classes + ")");
                }
            }
        }
        Inputs in = inputsByBatch.computeIfAbsent(batch.size(), b -> new Inputs(b, frames, streams));
        in.wave.data().setData(batch.waveforms());
        float[] mask = new float[batch.mask().length];
        for (int i = 0; i < mask.length; i++) mask[i] = batch.mask()[i];
        in.mask.data().setData(mask);
        in.cqt.data().setData(batch.cqt());
        Map<String, INDArray> ph = new HashMap<>();
        ph.put(MertGraph.WAVE, in.wave);
        ph.put(MertGraph.MASK, in.mask);
        ph.put(MertGraph.CQT, in.cqt);
        ph.put(MertGraph.PENALTY_SCALE, Nd4j.scalar((float) batch.featurePenaltyScale()));
        for (int s = 0; s < streams; s++) {
            in.labels[s].data().setData(batch.labels()[s]);
            ph.put(MertGraph.LABELS + s, in.labels[s]);
        }
        return ph;
    }

    /** Placeholder arrays reused across steps of one batch size. */
    private final class Inputs {
        final INDArray wave;
        final INDArray mask;
        final INDArray cqt;
        final INDArray[] labels;

        Inputs(int b, int frames, int streams) {
            wave = Nd4j.create(DataType.FLOAT, b, cropSamples);
            mask = Nd4j.create(DataType.FLOAT, b, frames);
            cqt = Nd4j.create(DataType.FLOAT, (long) b * frames, config.cqtBins());
            labels = new INDArray[streams];
            for (int s = 0; s < streams; s++) labels[s] = Nd4j.create(DataType.INT, (long) b * frames);
        }
    }

    /** Attaches {@code profile} to the training graph (forward and gradient function); null detaches it. */
    public void profile(OpTimeProfile profile) {
        checkOpen();
        this.profile = profile;
        installListeners();
    }

    /** Number of ops in the training graph: forward, and the gradient function. */
    public int[] opCounts() {
        SameDiff grad = train.sd.getFunction("grad");
        return new int[] {train.sd.getOps().size(), grad == null ? 0 : grad.getOps().size()};
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("MertNetwork is closed");
    }

    static void quietly(Runnable r) {
        // one lock for all networks of the JVM: two workers building at once must not save each other's null stream
        synchronized (System.class) {
            PrintStream old = System.out;
            System.setOut(new PrintStream(OutputStream.nullOutputStream()));
            try {
                r.run();
            } finally {
                System.setOut(old);
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        if (replay != null) replay.close();
        replay = null;
        for (StepArena a : arenas) a.close();
        arenas.clear();
        inputsByBatch.clear();
        inferenceOtherLength = null;
        otherLengths.values().forEach(o -> o.network().close());
        otherLengths.clear();
    }
}
