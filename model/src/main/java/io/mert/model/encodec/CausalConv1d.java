package io.mert.model.encodec;

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
 * and the innermost loop is an axpy over time that the JIT vectorises.
 */
final class CausalConv1d {
    private static final int TILE = 256;

    final int in;
    final int out;
    final int kernel;
    final int stride;
    final int dilation;
    /** [out][in][kernel], weight norm already applied. */
    final float[] weight;
    final float[] bias;

    CausalConv1d(int in, int out, int kernel, int stride, int dilation, float[] weight, float[] bias) {
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
        float[] acc = new float[TILE];
        for (int n0 = 0; n0 < frames; n0 += TILE) {
            int tl = Math.min(TILE, frames - n0);
            for (int o = 0; o < out; o++) {
                java.util.Arrays.fill(acc, 0, tl, bias[o]);
                for (int i = 0; i < in; i++) {
                    int wBase = (o * in + i) * kernel;
                    int phBase = i * stride * phaseLen;
                    for (int j = 0; j < kernel; j++) {
                        float w = weight[wBase + j];
                        int tap = j * dilation;
                        int src = phBase + (tap % stride) * phaseLen + tap / stride + n0;
                        for (int t = 0; t < tl; t++) acc[t] += w * ph[src + t];
                    }
                }
                System.arraycopy(acc, 0, y, o * frames + n0, tl);
            }
        }
        return y;
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
