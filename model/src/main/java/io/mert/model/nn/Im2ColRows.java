package io.mert.model.nn;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.FloatBuffer;
import java.util.List;

/**
 * The columns of a 1-D convolution, laid out for one matrix product: from {@code x} of shape [B, C, L] (or [B, L, C],
 * channels last) it makes {@code cols[c * k + j, b * F + t] = x[b, c, t * stride + j - pad]} (zero outside the input),
 * {@code F = (L + 2 pad - k) / stride + 1} frames per clip, as [C k, B F], or as [G, C/G k, B F] for G groups. A weight
 * [out, C/G, k] reshaped to [G, out/G, C/G k] times these columns is the convolution, as [G, out/G, B F].
 *
 * <p>Why not M2.1's im2col: it writes [B, C, 1, k, 1, F], which needs a reshape, a permute and another reshape (three
 * copies, and three more in the backward pass) before the product, and it ran at about 1.5 GB/s here (84 ms forward,
 * 63 ms backward per 95M step). This writes the product's layout directly, on ND4J's thread count.
 */
public final class Im2ColRows extends JavaKernelOp { // public, as its constructor: SameDiff instantiates it reflectively

    static final String NAME = "mert_im2col_rows";
    private static final int CHANNELS = 0, LENGTH = 1, KERNEL = 2, STRIDE = 3, PAD = 4, GROUPS = 5, CHANNELS_LAST = 6;

    static {
        register(new Im2ColRows());
    }

    public Im2ColRows() {
    }

    private Im2ColRows(SameDiff sd, SDVariable x, Geometry g) {
        super(sd, new SDVariable[] {x}, g.channels, g.length, g.kernel, g.stride, g.pad, g.groups, g.channelsLast ? 1 : 0);
    }

    /** The columns of {@code x} for a convolution of geometry {@code g}. */
    static SDVariable of(SameDiff sd, SDVariable x, Geometry g) {
        return new Im2ColRows(sd, x, g).outputVariable();
    }

    /** The convolution's geometry: channels, input length, kernel, stride, padding on each side, groups, layout. */
    record Geometry(int channels, int length, int kernel, int stride, int pad, int groups, boolean channelsLast) {
        Geometry {
            if (channels < 1 || length < 1 || kernel < 1 || stride < 1 || pad < 0 || groups < 1 || channels % groups != 0) {
                throw new IllegalArgumentException("bad convolution geometry " + this);
            }
            if (length + 2 * pad < kernel) throw new IllegalArgumentException("input shorter than the kernel: " + this);
        }

        int frames() {
            return (length + 2 * pad - kernel) / stride + 1;
        }

        long rows() {
            return (long) channels * kernel;
        }

        static Geometry from(long[] a) {
            return new Geometry((int) a[CHANNELS], (int) a[LENGTH], (int) a[KERNEL], (int) a[STRIDE], (int) a[PAD], (int) a[GROUPS],
                    a[CHANNELS_LAST] != 0);
        }

        long[] colsShape(long batch) {
            return groups == 1 ? new long[] {rows(), batch * frames()}
                    : new long[] {groups, rows() / groups, batch * frames()};
        }

        long[] inputShape(long batch) {
            return channelsLast ? new long[] {batch, length, channels} : new long[] {batch, channels, length};
        }

        /** Index of x[b, c, pos] in the input's memory. */
        long at(int b, int c, int pos) {
            return channelsLast ? ((long) b * length + pos) * channels + c : ((long) b * channels + c) * length + pos;
        }

        /** Distance in memory between x[b, c, pos] and x[b, c, pos + 1]. */
        int step() {
            return channelsLast ? channels : 1;
        }

        /** First frame t whose tap j reads inside the input (t stride + j - pad >= 0). */
        int firstFrame(int j) {
            int need = pad - j;
            return need <= 0 ? 0 : Math.min(frames(), (need + stride - 1) / stride);
        }

        /** One past the last frame t whose tap j reads inside the input (t stride + j - pad <= length - 1). */
        int endFrame(int j) {
            long last = (long) length - 1 + pad - j;
            return last < 0 ? 0 : (int) Math.min(frames(), last / stride + 1);
        }
    }

    Geometry geometry() {
        return Geometry.from(iArgs());
    }

    @Override
    public String opName() {
        return NAME;
    }

    @Override
    long[][] outputShapes(INDArray[] inputs) {
        Geometry g = geometry();
        long[] shape = inputs[0].shape();
        if (shape.length != 3 || !java.util.Arrays.equals(shape, g.inputShape(shape[0]))) {
            throw new IllegalArgumentException(NAME + " expects input " + java.util.Arrays.toString(g.inputShape(shape[0]))
                    + ", got " + java.util.Arrays.toString(shape));
        }
        return new long[][] {g.colsShape(shape[0])};
    }

    @Override
    void compute(INDArray[] inputs, INDArray[] outputs) {
        Geometry g = geometry();
        int batch = (int) inputs[0].size(0);
        FloatBuffer x = KernelMemory.floats(inputs[0]);
        FloatBuffer cols = KernelMemory.floats(outputs[0]);
        int frames = g.frames(), k = g.kernel(), s = g.stride(), pad = g.pad(), step = g.step();
        long width = (long) batch * frames;
        KernelMemory.parallelFor((int) g.rows(), r -> {
            int c = r / k, j = r % k;
            int first = g.firstFrame(j), end = g.endFrame(j);
            long row = r * width;
            for (int b = 0; b < batch; b++) {
                int o = (int) (row + (long) b * frames);
                for (int t = 0; t < first; t++) cols.put(o + t, 0f);
                int in = (int) g.at(b, c, first * s + j - pad), inStep = s * step;
                for (int t = first; t < end; t++, in += inStep) cols.put(o + t, x.get(in));
                for (int t = Math.max(first, end); t < frames; t++) cols.put(o + t, 0f);
            }
        });
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> gradients) {
        return List.of(Col2ImRows.of(sameDiff, gradients.get(0), geometry()));
    }
}
