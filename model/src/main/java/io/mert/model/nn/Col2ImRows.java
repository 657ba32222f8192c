package io.mert.model.nn;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.FloatBuffer;

/**
 * The backward pass of {@link Im2ColRows}: the gradient of the input, each column value added back to the input
 * position it was read from ({@code dx[b, c, t stride + j - pad] += dcols[c k + j, b F + t]}). Channels are split
 * over threads, so no two threads write the same element, and each element's sum runs in tap order.
 */
public final class Col2ImRows extends JavaKernelOp { // public, as its constructor: SameDiff instantiates it reflectively

    static final String NAME = "mert_col2im_rows";

    static {
        register(new Col2ImRows());
    }

    public Col2ImRows() {
    }

    private Col2ImRows(SameDiff sd, SDVariable cols, Im2ColRows.Geometry g) {
        super(sd, new SDVariable[] {cols}, g.channels(), g.length(), g.kernel(), g.stride(), g.pad(), g.groups(), g.channelsLast() ? 1 : 0);
    }

    static SDVariable of(SameDiff sd, SDVariable cols, Im2ColRows.Geometry g) {
        return new Col2ImRows(sd, cols, g).outputVariable();
    }

    @Override
    public String opName() {
        return NAME;
    }

    private Im2ColRows.Geometry geometry() {
        return Im2ColRows.Geometry.from(iArgs());
    }

    private static long batch(Im2ColRows.Geometry g, INDArray cols) {
        long perClip = g.rows() * g.frames();
        if (cols.length() % perClip != 0) {
            throw new IllegalArgumentException(NAME + ": " + cols.length() + " column values are not a whole number of clips of " + perClip);
        }
        return cols.length() / perClip;
    }

    @Override
    long[][] outputShapes(INDArray[] inputs) {
        Im2ColRows.Geometry g = geometry();
        return new long[][] {g.inputShape(batch(g, inputs[0]))};
    }

    @Override
    void compute(INDArray[] inputs, INDArray[] outputs) {
        Im2ColRows.Geometry g = geometry();
        int batch = (int) batch(g, inputs[0]);
        FloatBuffer cols = KernelMemory.floats(inputs[0]);
        FloatBuffer dx = KernelMemory.floats(outputs[0]);
        int frames = g.frames(), k = g.kernel(), s = g.stride(), pad = g.pad(), step = g.step(), length = g.length();
        long width = (long) batch * frames;
        KernelMemory.parallelFor(g.channels(), c -> {
            for (int b = 0; b < batch; b++) {
                for (int pos = 0, at = (int) g.at(b, c, 0); pos < length; pos++, at += step) dx.put(at, 0f);
            }
            for (int j = 0; j < k; j++) {
                int first = g.firstFrame(j), end = g.endFrame(j);
                long row = ((long) c * k + j) * width;
                for (int b = 0; b < batch; b++) {
                    int o = (int) (row + (long) b * frames);
                    int at = (int) g.at(b, c, first * s + j - pad), atStep = s * step;
                    for (int t = first; t < end; t++, at += atStep) dx.put(at, dx.get(at) + cols.get(o + t));
                }
            }
        });
    }
}
