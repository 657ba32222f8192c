package io.mert.model.nn;

import org.nd4j.autodiff.functions.DifferentialFunction;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.config.ExecutionResult;
import org.nd4j.autodiff.samediff.config.SDValue;
import org.nd4j.autodiff.samediff.internal.FrameIter;
import org.nd4j.autodiff.samediff.internal.InferenceSession;
import org.nd4j.linalg.api.ops.OpContext;

import java.util.Map;
import java.util.Set;

/** SameDiff's session, which also runs {@link JavaKernelOp}s: their outputs are allocated as any op's (by the arena). */
final class JavaKernelSession extends InferenceSession {

    static {
        // sessions SameDiff creates itself (for example with the arenas off) are of this class too
        SameDiff.bindInferenceFactory(JavaKernelSession::new);
    }

    JavaKernelSession(SameDiff sd) {
        super(sd);
    }

    /**
     * Makes {@code sd} run its ops in sessions of this class: sessions it made before (SameDiff makes one as soon as a
     * variable gets an array) are replaced, keeping their memory manager, and later ones come from the factory.
     */
    static void installIn(SameDiff sd) {
        sd.getSessions().replaceAll((thread, s) -> {
            if (s instanceof JavaKernelSession) return s;
            JavaKernelSession replacement = new JavaKernelSession(sd);
            replacement.setMmgr(s.getMmgr());
            return replacement;
        });
    }

    private StepReplay.Recorder recorder;

    /** Shows the ops this session runs to {@code recorder} until called with null. */
    void record(StepReplay.Recorder recorder) {
        this.recorder = recorder;
    }

    @Override
    public ExecutionResult doExec(DifferentialFunction op, OpContext context, FrameIter frame, Set<VarId> opInputs,
                                  Set<VarId> allIterInputs, Set<String> constAndPhInputs, Map<String, SDValue> placeholders) {
        StepReplay.Recorder r = recorder;
        if (r != null) r.before(op);
        ExecutionResult result;
        if (op instanceof JavaKernelOp kernel) {
            kernel.execute(context);
            result = ExecutionResult.createFrom(op, context);
        } else {
            result = super.doExec(op, context, frame, opInputs, allIterInputs, constAndPhInputs, placeholders);
        }
        if (r != null) r.after(op, context, result);
        return result;
    }
}
