package io.mert.model.nn;

import org.nd4j.autodiff.functions.DifferentialFunction;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.VariableType;
import org.nd4j.autodiff.samediff.config.ExecutionResult;
import org.nd4j.autodiff.samediff.internal.Variable;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.CustomOp;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.api.ops.Op;
import org.nd4j.linalg.api.ops.OpContext;
import org.nd4j.linalg.api.ops.impl.shape.Reshape;
import org.nd4j.linalg.api.ops.impl.transforms.custom.Assign;
import org.nd4j.linalg.api.ops.impl.transforms.gradient.GradientBackwardsMarker;
import org.nd4j.linalg.api.ops.impl.transforms.same.Identity;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A training step recorded once from SameDiff's session and then replayed without it: the same ops, in the order the
 * session ran them, on the same arrays (the step arena's, already shared between ops whose lifetimes do not overlap).
 * Only the placeholders' contents change from step to step.
 * <p>
 * Why: for every op of every step M2.1's session resolves dependencies through hash maps of variable ids, asks libnd4j
 * for the output shapes and allocates the outputs: about 30-55 us per op on this project's 2-core machines, a quarter of
 * the tiny preset's step (614 ops) and a tenth of the 95M step's (2619 ops), and the short-lived Java objects behind most
 * of the step's heap churn. A replayed op costs one native call.
 * <p>
 * A plan is valid while the placeholders keep their shapes and types, the graph's variables keep their arrays and the
 * arena that owns the step's arrays stays open: {@link #accepts} checks the first two, the caller the third. The
 * recording gives up (and the step stays with the session) on any op the session does not simply execute: control flow,
 * tensor arrays, views, external gradients.
 */
final class StepReplay implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(StepReplay.class);

    /** {@code -Dmert.stepReplay=false} runs every training step through SameDiff's session. */
    static final boolean ENABLED = Boolean.parseBoolean(System.getProperty("mert.stepReplay", "true"));
    /** {@code -Dmert.stepReplay.views=false} keeps the session's reshape copies in the replay. */
    static final boolean VIEWS = Boolean.parseBoolean(System.getProperty("mert.stepReplay.views", "true"));

    /** One op as the session ran it, with a context of its own holding the step's arrays. */
    private record Step(DifferentialFunction op, String opName, OpContext context, INDArray fillWithOne) {}

    /** A gradient copied out as soon as step {@code after} has computed it (what {@link StepLiveness#captureInto} did). */
    private record Capture(int after, String variable, INDArray array) {}

    private final StepArena arena;
    private final List<Step> steps;
    /** Steps the replay leaves out: reshapes whose readers read a view of the input instead ({@link #viewsForReshapes}). */
    private final boolean[] skipped;
    private final Map<String, INDArray> placeholders;
    private final Map<String, INDArray> variables;
    private final List<Capture> captures;
    private final Set<String> captured = new java.util.HashSet<>();
    private final Set<INDArray> views = Collections.newSetFromMap(new IdentityHashMap<>());
    private final Map<String, INDArray> outputs;
    private final Map<String, INDArray> gradients;

    private StepReplay(StepArena arena, List<Step> steps, Map<String, INDArray> placeholders, Map<String, INDArray> variables,
                       List<Capture> captures, Map<String, INDArray> outputs, Map<String, INDArray> gradients) {
        this.arena = arena;
        this.steps = steps;
        this.skipped = new boolean[steps.size()];
        this.placeholders = placeholders;
        this.variables = variables;
        this.captures = captures;
        for (Capture c : captures) captured.add(c.variable);
        this.outputs = outputs;
        this.gradients = gradients;
    }

    StepArena arena() {
        return arena;
    }

    /** Recorded ops the replay leaves out (reshapes read as views). */
    int leftOut() {
        return steps.size() - opCount();
    }

    /** Ops each replayed step runs. */
    int opCount() {
        int n = 0;
        for (boolean skip : skipped) if (!skip) n++;
        return n;
    }

    /** Whether this plan can run a step with these placeholders, and the graph still has the arrays it was recorded with. */
    boolean accepts(Map<String, INDArray> ph, SameDiff graph) {
        if (!ph.keySet().equals(placeholders.keySet())) return false;
        for (Map.Entry<String, INDArray> e : placeholders.entrySet()) {
            INDArray now = ph.get(e.getKey()), then = e.getValue();
            if (now != then && (now.dataType() != then.dataType() || !Arrays.equals(now.shape(), then.shape()))) return false;
        }
        for (Map.Entry<String, INDArray> e : variables.entrySet()) {
            if (graph.getArrForVarName(e.getKey()) != e.getValue()) return false;
        }
        return true;
    }

    /**
     * Runs the step on {@code ph} (which {@link #accepts} must have accepted); each gradient in {@code captureTargets}
     * is copied there as soon as it is computed. {@code profile}, when not null, receives each op's time.
     */
    void run(Map<String, INDArray> ph, Map<String, INDArray> captureTargets, OpTimeProfile profile) {
        for (Map.Entry<String, INDArray> e : placeholders.entrySet()) {
            INDArray now = ph.get(e.getKey());
            if (now != e.getValue()) e.getValue().assign(now);
        }
        int nextCapture = 0;
        for (int i = 0; i < steps.size(); i++) {
            Step s = steps.get(i);
            if (!skipped[i]) {
                long start = profile == null ? 0 : System.nanoTime();
                execute(s);
                if (profile != null) profile.add(s.opName, System.nanoTime() - start);
            }
            for (; nextCapture < captures.size() && captures.get(nextCapture).after == i; nextCapture++) {
                Capture c = captures.get(nextCapture);
                INDArray target = captureTargets.get(c.variable);
                if (target != null) target.assign(c.array);
            }
        }
    }

    private static void execute(Step s) {
        if (s.fillWithOne != null) {
            s.fillWithOne.assign(1.0);
        } else if (s.op instanceof JavaKernelOp kernel) {
            kernel.execute(s.context);
        } else if (s.op instanceof CustomOp custom) {
            Nd4j.exec(custom, s.context);
        } else {
            Nd4j.exec((Op) s.op, s.context);
        }
    }

    /** The requested outputs of the last step run (arrays the next step overwrites). */
    Map<String, INDArray> outputs() {
        return outputs;
    }

    /** The gradients of the last step that were not captured, by parameter (arrays the next step overwrites). */
    Map<String, INDArray> gradients() {
        return gradients;
    }

    /** Whether the gradient variable {@code name} is copied to its capture target during {@link #run}. */
    boolean captures(String name) {
        return captured.contains(name);
    }

    @Override
    public void close() {
        for (Step s : steps) {
            if (s.context != null) {
                try {
                    s.context.close();
                } catch (Exception e) {
                    LOG.debug("closing an op context of a replayed step failed", e);
                }
            }
        }
    }

    /**
     * Watches the session run one step ({@link JavaKernelSession#record}) and makes the plan from what it saw. Every
     * array the plan keeps must stay allocated while it lives: the step arena's are (the arena only reuses them).
     */
    static final class Recorder {

        private final List<Step> steps = new ArrayList<>();
        /** Index of the step that wrote each variable, and the array it wrote. */
        private final Map<String, Integer> producer = new HashMap<>();
        private final Map<String, INDArray> produced = new HashMap<>();
        private String unsupported;

        /** Called by the session before it runs {@code op}: whether the plan can repeat it. */
        void before(DifferentialFunction op) {
            if (unsupported != null) return;
            boolean plain = op instanceof JavaKernelOp || op instanceof GradientBackwardsMarker || op instanceof Identity
                    || op instanceof Assign || (op instanceof DynamicCustomOp && !SPECIAL.contains(op.getClass().getSimpleName()))
                    || (op instanceof Op && !(op instanceof CustomOp));
            if (!plain) unsupported = op.getClass().getName() + " (" + op.getOwnName() + ")";
        }

        /** Called by the session after it ran {@code op} with {@code context}, which gave {@code result}. */
        void after(DifferentialFunction op, OpContext context, ExecutionResult result) {
            if (unsupported != null || op instanceof Identity) return; // Identity passes its input's array through
            Step step;
            List<INDArray> outputs;
            if (op instanceof GradientBackwardsMarker) {
                outputs = List.of(result.resultAt(0));
                step = new Step(op, op.opName(), null, outputs.get(0));
            } else {
                OpContext own = Nd4j.getExecutioner().buildContext();
                List<INDArray> in = context.getInputArrays();
                outputs = List.copyOf(context.getOutputArrays());
                if (op instanceof CustomOp c) {
                    own.setArgs(in.toArray(new INDArray[0]), c.iArgs(), c.dArgs(), c.tArgs(), c.bArgs());
                } else {
                    for (int i = 0; i < in.size(); i++) own.setInputArray(i, in.get(i));
                }
                for (int i = 0; i < outputs.size(); i++) own.setOutputArray(i, outputs.get(i));
                step = new Step(op, op.opName(), own, null);
            }
            steps.add(step);
            String[] names = op.outputVariablesNames();
            for (int i = 0; i < names.length && i < outputs.size(); i++) {
                producer.put(names[i], steps.size() - 1);
                produced.put(names[i], outputs.get(i));
            }
        }

        /**
         * The plan, or null (logged) when the step cannot be replayed. {@code ph}: the step's placeholders; {@code graph}:
         * the graph the session ran; {@code captured}: gradient variables the liveness copied out mid-step; {@code outputs}
         * and {@code gradients}: what the session returned.
         */
        StepReplay finish(StepArena arena, SameDiff graph, Map<String, INDArray> ph, Set<String> captured,
                          Map<String, INDArray> outputs, Map<String, INDArray> gradients) {
            List<StepReplay.Step> plan = List.copyOf(steps);
            StepReplay replay = new StepReplay(arena, plan, new HashMap<>(ph), variablesOf(graph), captures(captured),
                    new HashMap<>(), new HashMap<>());
            String problem = unsupported != null ? "it runs " + unsupported
                    : replay.placeholdersAreInputs(graph) ? null : "the session copied a placeholder";
            if (problem == null) problem = replay.keep(outputs, replay.outputs);
            if (problem == null) problem = replay.keep(gradients, replay.gradients);
            if (problem == null && VIEWS) replay.viewsForReshapes();
            if (problem == null && replay.captures.size() != captured.size()) problem = "a gradient was copied out by an op the plan does not run";
            if (problem != null) {
                LOG.info("training steps stay with SameDiff's session: {}", problem);
                replay.close();
                return null;
            }
            return replay;
        }

        private List<Capture> captures(Set<String> captured) {
            List<Capture> out = new ArrayList<>();
            for (String name : captured) {
                Integer at = producer.get(name);
                if (at != null) out.add(new Capture(at, name, produced.get(name)));
            }
            out.sort((a, b) -> Integer.compare(a.after, b.after));
            return out;
        }

        private Map<String, INDArray> variablesOf(SameDiff graph) {
            Map<String, INDArray> out = new HashMap<>();
            for (Variable v : graph.getVariables().values()) {
                VariableType t = v.getVariable().getVariableType();
                if (t == VariableType.VARIABLE || t == VariableType.CONSTANT) {
                    INDArray a = graph.getArrForVarName(v.getName());
                    if (a != null) out.put(v.getName(), a);
                }
            }
            return out;
        }

        /** Ops the session does not simply execute (InferenceSession.doExec's special cases). */
        private static final Set<String> SPECIAL = Set.of("Switch", "Enter", "Exit", "NextIteration", "Merge", "LoopCond",
                "CreateView", "ExternalErrorsFunction", "Invoke", "Assert", "TensorArray", "TensorArrayRead",
                "TensorArrayWrite", "TensorArraySize", "TensorArrayConcat", "TensorArrayGather", "TensorArrayScatter",
                "TensorArraySplit", "TensorArrayRemove");
    }

    /**
     * Leaves out reshapes of dense arrays: their readers read a view of the reshape's input instead of the copy the
     * session made (81 copies per tiny step, 281 per 95M step). Only where that is safe in this plan: nothing writes
     * the input's memory between the reshape and the copy's last reader (the arena may have handed that memory to a
     * later op once the session thought the input dead), and every reader is a custom op (a legacy scalar op holds
     * its operand outside the context). The outputs and gradients the caller reads after the step get the views too.
     */
    private void viewsForReshapes() {
        for (int i = 0; i < steps.size(); i++) {
            Step s = steps.get(i);
            if (!(s.op instanceof Reshape) || s.context == null) continue;
            INDArray a = s.context.getInputArrays().get(0), b = s.context.getOutputArrays().get(0);
            if (!KernelMemory.isDense(a) || a.ordering() != 'c' || b.dataType() != a.dataType() || b.length() != a.length()) continue;
            INDArray view = a.reshape('c', b.shape());
            if (address(view) != address(a)) continue; // a copy after all
            boolean readAfterTheStep = holds(outputs, b) || holds(gradients, b) || capturesArray(b);
            int last = readAfterTheStep ? steps.size() - 1 : lastReader(b, i);
            if (last < 0 || !readersAreCustomOps(b, i, last) || written(a, i + 1, last)) continue;
            for (int j = i + 1; j <= last; j++) {
                Step r = steps.get(j);
                if (r.context == null) continue;
                List<INDArray> in = r.context.getInputArrays();
                for (int k = 0; k < in.size(); k++) if (in.get(k) == b) r.context.setInputArray(k, view);
            }
            outputs.replaceAll((name, arr) -> arr == b ? view : arr);
            gradients.replaceAll((name, arr) -> arr == b ? view : arr);
            captures.replaceAll(c -> c.array == b ? new Capture(c.after, c.variable, view) : c);
            views.add(view);
            skipped[i] = true;
        }
    }

    private static boolean holds(Map<String, INDArray> arrays, INDArray a) {
        for (INDArray x : arrays.values()) if (x == a) return true;
        return false;
    }

    private boolean capturesArray(INDArray a) {
        for (Capture c : captures) if (c.array == a) return true;
        return false;
    }

    /** The last step after {@code from} that reads {@code a}, or -1. */
    private int lastReader(INDArray a, int from) {
        int last = -1;
        for (int j = from + 1; j < steps.size(); j++) {
            Step r = steps.get(j);
            if (r.context != null && r.context.getInputArrays().stream().anyMatch(x -> x == a)) last = j;
        }
        return last;
    }

    private boolean readersAreCustomOps(INDArray a, int from, int to) {
        for (int j = from + 1; j <= to; j++) {
            Step r = steps.get(j);
            if (r.context != null && !(r.op instanceof CustomOp) && r.context.getInputArrays().stream().anyMatch(x -> x == a)) return false;
        }
        return true;
    }

    /** Whether a step in [from, to] writes memory that {@code a} covers. */
    private boolean written(INDArray a, int from, int to) {
        long lo = address(a), hi = lo + a.length() * a.dataType().width();
        for (int j = from; j <= to; j++) {
            Step w = steps.get(j);
            List<INDArray> outs = w.fillWithOne != null ? List.of(w.fillWithOne) : w.context.getOutputArrays();
            for (INDArray o : outs) {
                if (o == null || o.isEmpty()) continue;
                long oLo = address(o), oHi = oLo + o.length() * o.dataType().width();
                if (oLo < hi && lo < oHi) return true;
            }
        }
        return false;
    }

    private static long address(INDArray a) {
        return a.data().addressPointer().address(); // includes a view's offset
    }

    /** Every op input that is a placeholder must be the caller's array itself (not a cast copy), or new contents would not reach it. */
    private boolean placeholdersAreInputs(SameDiff graph) {
        Set<INDArray> phArrays = Collections.newSetFromMap(new IdentityHashMap<>());
        phArrays.addAll(placeholders.values());
        for (Step s : steps) {
            if (s.context == null) continue;
            String[] args = s.op.argNames();
            List<INDArray> in = s.context.getInputArrays();
            for (int i = 0; i < args.length && i < in.size(); i++) {
                var v = graph.getVariable(args[i]);
                if (v != null && v.getVariableType() == VariableType.PLACEHOLDER && !phArrays.contains(in.get(i))) return false;
            }
        }
        return true;
    }

    /** Keeps {@code from}'s arrays in {@code into} if the replay rewrites them every step; else says why not. */
    private String keep(Map<String, INDArray> from, Map<String, INDArray> into) {
        Set<INDArray> rewritten = Collections.newSetFromMap(new IdentityHashMap<>());
        rewritten.addAll(variables.values()); // the parameters: updated in place by the optimizer
        rewritten.addAll(placeholders.values()); // refilled before every step
        rewritten.addAll(views); // views of arrays the plan writes
        for (Step s : steps) {
            if (s.fillWithOne != null) rewritten.add(s.fillWithOne);
            else rewritten.addAll(s.context.getOutputArrays());
        }
        for (Map.Entry<String, INDArray> e : from.entrySet()) {
            INDArray a = e.getValue();
            if (a == null) continue;
            if (!rewritten.contains(a)) {
                return "its result " + e.getKey() + " is not an array the plan writes";
            }
            into.put(e.getKey(), a);
        }
        return null;
    }
}
