package io.mert.model.nn;

import org.nd4j.autodiff.listeners.At;
import org.nd4j.autodiff.listeners.BaseListener;
import org.nd4j.autodiff.listeners.Operation;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.internal.SameDiffOp;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.OpContext;
import org.nd4j.linalg.dataset.api.MultiDataSet;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Where a step's time goes, by SameDiff op type: the time between each op's start and end as the
 * session executes it (output allocation included), summed per op name. What is left of the step's
 * wall time is the session's own bookkeeping. For {@code mert bench step --profile}; it slows steps a little.
 */
public final class OpTimeProfile extends BaseListener {

    /** One op type's share: total nanoseconds and executions. */
    public record Entry(String op, long nanos, long calls) {}

    private final Map<String, long[]> byOp = new HashMap<>();
    private long opStart;

    @Override
    public boolean isActive(Operation operation) {
        return true;
    }

    @Override
    public void preOpExecution(SameDiff sd, At at, SameDiffOp op, OpContext opContext) {
        opStart = System.nanoTime();
    }

    @Override
    public void opExecution(SameDiff sd, At at, MultiDataSet batch, SameDiffOp op, OpContext opContext, INDArray[] outputs) {
        add(op.getOp().opName(), System.nanoTime() - opStart);
    }

    /** One execution of an op of type {@code opName} that took {@code nanos} (also for steps replayed without the session). */
    void add(String opName, long nanos) {
        long[] v = byOp.computeIfAbsent(opName, k -> new long[2]);
        v[0] += nanos;
        v[1]++;
    }

    public void reset() {
        byOp.clear();
    }

    /** Op types by total time, largest first. */
    public List<Entry> entries() {
        List<Entry> out = new ArrayList<>();
        byOp.forEach((k, v) -> out.add(new Entry(k, v[0], v[1])));
        out.sort(Comparator.comparingLong(Entry::nanos).reversed());
        return out;
    }
}
