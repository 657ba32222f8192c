package io.mert.model.nn;

import org.nd4j.autodiff.listeners.At;
import org.nd4j.autodiff.listeners.BaseListener;
import org.nd4j.autodiff.listeners.Operation;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.internal.SameDiffOp;
import org.nd4j.autodiff.samediff.internal.Variable;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.OpContext;
import org.nd4j.linalg.dataset.api.MultiDataSet;

import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Hands a step's arrays back to its {@link StepArena} as soon as no op later in the step reads them, so
 * the pool holds the step's peak of live arrays instead of every array the step makes (2.5 GB for the
 * 95M model at one 1 s clip). M2.1's session frees only a handful of arrays mid-step itself.
 * <p>
 * An array is dead when every op that reads its variable, and every variable that is a view of the same
 * memory (reshape, permute), has run. Requested outputs and variables nothing reads are never freed.
 * Ops the step does not run keep their inputs alive until the step ends: safe, just later.
 */
final class StepLiveness extends BaseListener {

    private final StepArena arena;
    private final SameDiff graph;
    private final Map<String, Integer> readers = new HashMap<>();
    private final Set<String> keep;
    private final Map<String, Integer> unread = new HashMap<>();
    private final Map<String, INDArray> arrayOfVariable = new HashMap<>();
    private final Map<INDArray, Integer> variablesOnArray = new IdentityHashMap<>();
    private Map<String, INDArray> captureTargets = Map.of();
    private final Set<String> captured = new HashSet<>();

    /** {@code fn}: the graph the session runs; {@code outputs}: every variable the caller reads after the step. */
    StepLiveness(StepArena arena, SameDiff fn, Collection<String> outputs) {
        this.arena = arena;
        this.graph = fn;
        for (Variable v : fn.getVariables().values()) {
            List<String> ops = v.getInputsForOp();
            readers.put(v.getName(), ops == null ? 0 : new HashSet<>(ops).size());
        }
        this.keep = Set.copyOf(outputs);
    }

    StepArena arena() {
        return arena;
    }

    @Override
    public boolean isActive(Operation operation) {
        return true;
    }

    @Override
    public void opExecution(SameDiff sd, At at, MultiDataSet batch, SameDiffOp op, OpContext opContext, INDArray[] outputs) {
        if (sd != graph) return; // listeners are the parent graph's: ignore its other runs
        List<String> outs = op.getOutputsOfOp();
        for (int i = 0; outs != null && i < outs.size() && i < outputs.length; i++) {
            INDArray array = arena.handedOutArrayOf(outputs[i]);
            if (array == null) continue;
            String name = outs.get(i);
            arrayOfVariable.put(name, array);
            variablesOnArray.merge(array, 1, Integer::sum);
            INDArray target = captureTargets.get(name);
            if (target != null && readers.getOrDefault(name, 0) == 0) {
                target.assign(outputs[i]);
                captured.add(name);
                dead(name);
            }
        }
        List<String> ins = op.getInputsToOp();
        if (ins == null) return;
        for (String name : ins.size() == 1 ? ins : new HashSet<>(ins)) {
            int left = unread.compute(name, (k, v) -> (v == null ? readers.getOrDefault(k, 0) : v) - 1);
            if (left == 0 && !keep.contains(name)) dead(name);
        }
    }

    private void dead(String name) {
        INDArray array = arrayOfVariable.remove(name);
        if (array == null) return;
        int left = variablesOnArray.merge(array, -1, Integer::sum);
        if (left == 0) {
            variablesOnArray.remove(array);
            arena.release(array);
        }
    }

    /**
     * For the next step: copies each named output into its target array as soon as it is computed (when nothing
     * else reads it) and frees it then, instead of keeping it to the end of the step. The caller must then take
     * those outputs from the targets, not from the session's results: see {@link #captured}.
     */
    void captureInto(Map<String, INDArray> targets) {
        this.captureTargets = targets;
    }

    /** Whether {@code name} went to its capture target this step (its array in the session's results is stale). */
    boolean captured(String name) {
        return captured.contains(name);
    }

    /** Forgets the step (the arena has taken every array back). */
    void reset() {
        captured.clear();
        unread.clear();
        arrayOfVariable.clear();
        variablesOnArray.clear();
    }
}
