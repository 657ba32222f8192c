package io.mert.model.encodec;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

/**
 * EnCodec's {@code SConv1d} with {@code causal=True, pad_mode="reflect"} (HF {@code EncodecConv1d}):
 * the input is padded by {@code effectiveKernel - stride} reflected samples on the left and, on the
 * right, by the reflection that makes the last window complete ({@code ceil(L/stride)*stride - L}
 * samples), so {@code ceil(L/stride)} frames come out. As in EnCodec's {@code pad1d}, an input not
 * longer than the padding is zero-extended before reflecting. Weight norm is folded into
 * {@link #weight} when loading.
 *
 * <p>Activations are channel-major {@code float[channels * length]}. The product runs in polyphase
 * form: the padded input is split into {@code stride} phases so every tap reads a contiguous run,
 * Small layers run a plain-Java product whose innermost loop is an axpy over time (vectorised by
 * the JIT, four output channels per pass); layers with many weights run im2col tiles through ND4J's
 * BLAS sgemm, which is several times faster there and slower on small matrices (call overhead).
 */
final class CausalConv1d {
    private static final int TILE = 256;
    /** im2col tile size (floats) for the BLAS path. */
    private static final int BLAS_TILE_VALUES = 1 << 20;
    /** Layers with at least this many weights run through BLAS; smaller ones are faster in plain Java. */
    static final int DEFAULT_BLAS_MIN_WEIGHTS = 16384;

    final int in;
    final int out;
    final int kernel;
    final int stride;
    final int dilation;
    /** [out][in][kernel], weight norm already applied. */
    final float[] weight;
    final float[] bias;
    /** The weight as an ND4J matrix [out, in*kernel] when this layer uses BLAS, else null. */
    private final INDArray blasWeight;

    CausalConv1d(int in, int out, int kernel, int stride, int dilation, float[] weight, float[] bias) {
        this(in, out, kernel, stride, dilation, weight, bias, DEFAULT_BLAS_MIN_WEIGHTS);
    }

    /** @param blasMinWeights layers with at least this many weights multiply through BLAS (0: all, MAX_VALUE: none) */
    CausalConv1d(int in, int out, int kernel, int stride, int dilation, float[] weight, float[] bias, int blasMinWeights) {
        if (in < 1 || out < 1 || kernel < 1 || stride < 1 || dilation < 1)
            throw new IllegalArgumentException("bad conv geometry in=" + in + " out=" + out + " kernel=" + kernel
                    + " stride=" + stride + " dilation=" + dilation);
        if (weight.length != out * in * kernel || bias.length != out)
            throw new IllegalArgumentException("weight/bias sizes do not match [" + out + ", " + in + ", " + kernel + "]");
        if (effectiveKernel(kernel, dilation) < stride)
            throw new IllegalArgumentException("kernel " + kernel + " shorter than stride " + stride);
        this.in = in;
        this.out = out;
        this.kernel = kernel;
        this.stride = stride;
        this.dilation = dilation;
        this.weight = weight;
        this.bias = bias;
        this.blasWeight = weight.length >= blasMinWeights
                ? Nd4j.create(weight.clone(), new long[] {out, (long) in * kernel}, 'c') : null;
    }

    /** This layer with BLAS used when it has at least {@code blasMinWeights} weights. */
    CausalConv1d withBlasMinWeights(int blasMinWeights) {
        return new CausalConv1d(in, out, kernel, stride, dilation, weight, bias, blasMinWeights);
    }

    private static int effectiveKernel(int kernel, int dilation) {
        return (kernel - 1) * dilation + 1;
    }

    /** Left padding: how many earlier input samples each output looks back. */
    int paddingTotal() {
        return effectiveKernel(kernel, dilation) - stride;
    }

    int outputLength(int length) {
        return ceilDiv(length, stride);
    }

    /** Forward pass with EnCodec's own padding at both ends. */
    float[] forward(float[] x, int length) {
        return forward(x, length, null);
    }

    /**
     * Forward pass; when {@code history} ({@code [in][paddingTotal()]}, the inputs just before
     * {@code x}) is given it replaces the left reflect padding, so a long signal can be run in pieces.
     */
    float[] forward(float[] x, int length, float[] history) {
        if (length < 1) throw new IllegalArgumentException("empty input");
        if (x.length < in * length) throw new IllegalArgumentException("input holds " + x.length + " < " + in + " x " + length);
        int padLeft = paddingTotal();
        int frames = outputLength(length);
        int padRight = frames * stride - length;
        int padded = padLeft + length + padRight;
        int phaseLen = ceilDiv(padded, stride);
        // polyphase padded input: ph[(i * stride + r) * phaseLen + m] = xpad[i][m * stride + r]
        float[] ph = new float[in * stride * phaseLen];
        float[] row = new float[padded];
        for (int i = 0; i < in; i++) {
            if (history != null) {
                System.arraycopy(history, i * padLeft, row, 0, padLeft);
                System.arraycopy(x, i * length, row, padLeft, length);
                reflectRight(x, i * length, length, row, padLeft + length, padRight);
            } else {
                padReflect(x, i * length, length, padLeft, padRight, row);
            }
            int base = i * stride * phaseLen;
            if (stride == 1) {
                System.arraycopy(row, 0, ph, base, padded);
            } else {
                for (int p = 0; p < padded; p++) ph[base + (p % stride) * phaseLen + p / stride] = row[p];
            }
        }
        float[] y = new float[out * frames];
        if (usesBlas()) blasProduct(ph, phaseLen, frames, y);
        else javaProduct(ph, phaseLen, frames, y);
        return y;
    }

    boolean usesBlas() {
        return blasWeight != null;
    }

    /** y[o][n] = bias[o] + sum_{i,j} w[o][i][j] xpad[i][n*stride + j*dilation], four outputs at a time. */
    private void javaProduct(float[] ph, int phaseLen, int frames, float[] y) {
        float[] a0 = new float[TILE], a1 = new float[TILE], a2 = new float[TILE], a3 = new float[TILE];
        for (int n0 = 0; n0 < frames; n0 += TILE) {
            int tl = Math.min(TILE, frames - n0);
            for (int o = 0; o < out; o += 4) {
                int o1 = Math.min(o + 1, out - 1), o2 = Math.min(o + 2, out - 1), o3 = Math.min(o + 3, out - 1);
                Arrays.fill(a0, 0, tl, bias[o]);
                Arrays.fill(a1, 0, tl, bias[o1]);
                Arrays.fill(a2, 0, tl, bias[o2]);
                Arrays.fill(a3, 0, tl, bias[o3]);
                for (int i = 0; i < in; i++) {
                    int phBase = i * stride * phaseLen;
                    for (int j = 0; j < kernel; j++) {
                        float w0 = weight[(o * in + i) * kernel + j], w1 = weight[(o1 * in + i) * kernel + j];
                        float w2 = weight[(o2 * in + i) * kernel + j], w3 = weight[(o3 * in + i) * kernel + j];
                        int tap = j * dilation;
                        int src = phBase + (tap % stride) * phaseLen + tap / stride + n0;
                        for (int t = 0; t < tl; t++) {
                            float v = ph[src + t];
                            a0[t] += w0 * v;
                            a1[t] += w1 * v;
                            a2[t] += w2 * v;
                            a3[t] += w3 * v;
                        }
                    }
                }
                // rows past `out` (when out is not a multiple of 4) repeat the last row and are not stored
                System.arraycopy(a0, 0, y, o * frames + n0, tl);
                if (o + 1 < out) System.arraycopy(a1, 0, y, (o + 1) * frames + n0, tl);
                if (o + 2 < out) System.arraycopy(a2, 0, y, (o + 2) * frames + n0, tl);
                if (o + 3 < out) System.arraycopy(a3, 0, y, (o + 3) * frames + n0, tl);
            }
        }
    }

    /** The same product as im2col tiles times the weight matrix [out, in*kernel] through ND4J's BLAS sgemm. */
    private void blasProduct(float[] ph, int phaseLen, int frames, float[] y) {
        int k = in * kernel;
        int tileFrames = Math.max(TILE, BLAS_TILE_VALUES / k);
        float[] cols = new float[k * Math.min(frames, tileFrames)];
        for (int n0 = 0; n0 < frames; n0 += tileFrames) {
            int tl = Math.min(tileFrames, frames - n0);
            for (int i = 0; i < in; i++) {
                for (int j = 0; j < kernel; j++) {
                    int tap = j * dilation;
                    System.arraycopy(ph, i * stride * phaseLen + (tap % stride) * phaseLen + tap / stride + n0,
                            cols, (i * kernel + j) * tl, tl);
                }
            }
            float[] data = cols.length == k * tl ? cols : Arrays.copyOf(cols, k * tl);
            try (INDArray x = Nd4j.create(data, new long[] {k, tl}, 'c');
                 INDArray r = Nd4j.create(DataType.FLOAT, new long[] {out, tl}, 'c')) {
                Nd4j.gemm(blasWeight, x, r, false, false, 1.0, 0.0);
                float[] res = r.data().asFloat();
                for (int o = 0; o < out; o++) {
                    float b = bias[o];
                    int dst = o * frames + n0, src = o * tl;
                    for (int t = 0; t < tl; t++) y[dst + t] = res[src + t] + b;
                }
            }
        }
    }

    /**
     * torch's reflect padding of one row, after EnCodec's zero extension when the row is not longer
     * than the larger padding (extend by zeros, reflect, cut the extension off the end again).
     */
    static void padReflect(float[] x, int off, int length, int left, int right, float[] dst) {
        int maxPad = Math.max(left, right);
        int extra = length <= maxPad ? maxPad - length + 1 : 0;
        int n = length + extra; // the zero-extended row: x then `extra` zeros
        for (int p = 0; p < left + length + right; p++) {
            int src = p - left;               // index into the extended row, reflected into [0, n)
            if (src < 0) src = -src;
            else if (src >= n) src = 2 * (n - 1) - src;
            dst[p] = src < length ? x[off + src] : 0f;
        }
    }

    private static void reflectRight(float[] x, int off, int length, float[] dst, int at, int right) {
        if (right >= length) throw new IllegalArgumentException("piece of " + length + " samples too short to reflect " + right);
        for (int k = 0; k < right; k++) dst[at + k] = x[off + length - 2 - k];
    }

    static int ceilDiv(int a, int b) {
        return -Math.floorDiv(-a, b);
    }
}
