package io.mert.model.optim;

import java.nio.FloatBuffer;
import java.util.stream.IntStream;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * fairseq's {@code clip_grad_norm_} on one flat gradient buffer: computes the total L2 norm and, when
 * it exceeds {@code maxNorm}, scales the gradients in place by {@code maxNorm / (norm + 1e-6)}.
 *
 * <p>The norm is accumulated in double over fixed-size blocks whose partial sums are added in block
 * order, so the result is bit-identical for identical gradients whatever the thread count. That
 * matters: every worker computes its own clip coefficient and the parameters must stay identical.
 */
public final class GradientClipper {

    /** Floats per partial sum; fixed so the summation order never depends on threads. */
    static final int BLOCK = 1 << 16;

    private final double maxNorm;

    /** {@code maxNorm <= 0} disables clipping (fairseq's clip_norm 0); the norm is still computed. */
    public GradientClipper(double maxNorm) {
        if (Double.isNaN(maxNorm)) throw new IllegalArgumentException("clip_norm must be a number, got NaN");
        this.maxNorm = maxNorm;
    }

    public double maxNorm() {
        return maxNorm;
    }

    /**
     * Clips {@code grads} in place and returns the norm before clipping (what fairseq logs as
     * gnorm). When the norm is NaN or infinite the gradients are left untouched: the caller must skip
     * the update, as fairseq does for non-finite gradient norms.
     */
    public double clip(INDArray grads) {
        INDArray g = FlatArrays.requireFlatFloat(grads, "grads");
        double norm = l2Norm(g);
        double coef = coefficient(norm);
        if (coef < 1) g.muli(coef);
        return norm;
    }

    /**
     * The factor {@link #clip} would scale gradients of norm {@code norm} by: {@code maxNorm / (norm + 1e-6)} when that
     * is below 1, else 1 (also with clipping off or a norm that is not finite). For callers that apply it as they read
     * the gradients instead of writing them.
     */
    public double coefficient(double norm) {
        if (maxNorm > 0 && Double.isFinite(norm)) {
            double coef = maxNorm / (norm + 1e-6);
            if (coef < 1) return coef;
        }
        return 1;
    }

    /** Deterministic L2 norm of a flat float buffer, accumulated in double. */
    public static double l2Norm(INDArray array) {
        INDArray flat = FlatArrays.requireFlatFloat(array, "array");
        double[] sum = {0};
        FlatArrays.forEachByteChunk(flat, 0, flat.length(), bytes -> sum[0] += sumOfSquares(bytes.asFloatBuffer()));
        return Math.sqrt(sum[0]);
    }

    private static double sumOfSquares(FloatBuffer floats) {
        int n = floats.remaining();
        int blocks = (n + BLOCK - 1) / BLOCK;
        double[] partials = new double[blocks];
        IntStream.range(0, blocks).parallel().forEach(b -> {
            int from = b * BLOCK;
            partials[b] = blockSumOfSquares(floats, from, Math.min(n, from + BLOCK));
        });
        double total = 0;
        for (double p : partials) total += p;
        return total;
    }

    private static double blockSumOfSquares(FloatBuffer f, int from, int to) {
        // Four independent accumulators in a fixed pattern: faster, still order-deterministic.
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int i = from;
        for (; i + 3 < to; i += 4) {
            double a = f.get(i), b = f.get(i + 1), c = f.get(i + 2), d = f.get(i + 3);
            s0 += a * a;
            s1 += b * b;
            s2 += c * c;
            s3 += d * d;
        }
        for (; i < to; i++) {
            double a = f.get(i);
            s0 += a * a;
        }
        return (s0 + s1) + (s2 + s3);
    }
}
