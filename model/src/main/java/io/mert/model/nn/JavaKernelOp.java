package io.mert.model.nn;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.imports.converters.ImportClassMapping;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.concurrency.AffinityManager;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.api.ops.OpContext;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * A graph op whose kernel is Java code rather than a libnd4j op: {@link JavaKernelSession} runs it. SameDiff M2.1
 * has no user-defined ops, but it builds the gradient graph from any {@link DynamicCustomOp}'s {@link #doDiff}, asks
 * it for output shapes, and clones it (into the gradient function) through its name and integer arguments: so a
 * subclass keeps all its configuration in {@link #iArgs()}, has a public no-argument constructor, and is registered
 * under a name libnd4j does not use ({@link #register}).
 */
abstract class JavaKernelOp extends DynamicCustomOp {

    /** For cloning; {@link #configureFromArguments} then reads the integer arguments. */
    protected JavaKernelOp() {
    }

    protected JavaKernelOp(SameDiff sd, SDVariable[] inputs, long... iArgs) {
        super(null, sd, inputs);
        JavaKernelSession.installIn(sd);
        addIArgument(iArgs);
    }

    /** Makes {@code prototype}'s class known under its op name, so the gradient function can clone it. */
    static void register(JavaKernelOp prototype) {
        ImportClassMapping.getOpNameMapping().putIfAbsent(prototype.opName(), prototype);
    }

    /** Computes the outputs, allocated by the session in the shapes {@link #outputShapes} gave, from the inputs. */
    abstract void compute(INDArray[] inputs, INDArray[] outputs);

    /** The outputs' shapes for these inputs (float32). */
    abstract long[][] outputShapes(INDArray[] inputs);

    final void execute(OpContext context) {
        List<INDArray> in = context.getInputArrays();
        List<INDArray> out = context.getOutputArrays();
        INDArray[] inputs = in.toArray(new INDArray[0]);
        INDArray[] outputs = out.toArray(new INDArray[0]);
        for (int i = 0; i < inputs.length; i++) {
            Nd4j.getAffinityManager().ensureLocation(inputs[i], AffinityManager.Location.HOST);
            if (!KernelMemory.isDense(inputs[i])) inputs[i] = inputs[i].dup('c'); // a strided view from a reshape or permute
        }
        compute(inputs, outputs);
        for (INDArray a : outputs) Nd4j.getAffinityManager().tagLocation(a, AffinityManager.Location.HOST);
    }

    /** Backward passes have no derivative of their own (nothing here differentiates twice); forward ops override. */
    @Override
    public List<SDVariable> doDiff(List<SDVariable> gradients) {
        throw new UnsupportedOperationException("no derivative of " + opName());
    }

    @Override
    public List<LongShapeDescriptor> calculateOutputShape(OpContext context) {
        long[][] shapes = outputShapes(context.getInputArrays().toArray(new INDArray[0]));
        LongShapeDescriptor[] out = new LongShapeDescriptor[shapes.length];
        for (int i = 0; i < shapes.length; i++) out[i] = LongShapeDescriptor.fromShape(shapes[i], DataType.FLOAT);
        return List.of(out);
    }

    @Override
    public List<LongShapeDescriptor> calculateOutputShape() {
        throw new UnsupportedOperationException(opName() + " runs only inside a SameDiff session");
    }

    @Override
    public List<DataType> calculateOutputDataTypes(List<DataType> dataTypes) {
        return Collections.nCopies(getNumOutputs(), DataType.FLOAT);
    }

    @Override
    public int getNumOutputs() {
        return 1;
    }

    /** libnd4j does not know the op: no hash, no descriptor. */
    @Override
    public long opHash() {
        return 0;
    }

    @Override
    public Map<String, Object> propertiesForFunction() {
        return Collections.emptyMap();
    }

    @Override
    public void setPropertiesForFunction(Map<String, Object> properties) {
    }

    @Override
    public void configureFromArguments() {
    }
}
