package io.mert.model.nn;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ops.impl.controlflow.compat.StopGradient;


/**
 * Building blocks with PyTorch semantics, from SameDiff primitives and this package's Java kernels. The fused M2.1
 * ops differ from PyTorch ({@code nn().layerNorm} has no epsilon, {@code nn().gelu} is the sigmoid approximation),
 * so norms and GELU are {@link NormAffine} and {@link Gelu}.
 */
final class GraphOps {

    static final double NORM_EPS = 1e-5;

    private final SameDiff sd;
    private final DataType matmul;

    /** @param matmul the type matrix products take their operands in (float32, or half/bfloat16 for mixed precision) */
    GraphOps(SameDiff sd, DataType matmul) {
        this.sd = sd;
        this.matmul = matmul;
    }

    /**
     * {@code a @ b} (either transposed). With a reduced {@code matmul} type the operands are cast to it and the product
     * back to float32, as torch.autocast does: the parameters stay float32, and their gradients come back float32
     * through the casts' backward.
     */
    SDVariable mmul(SDVariable a, SDVariable b, boolean transposeA, boolean transposeB) {
        if (matmul == DataType.FLOAT) return sd.mmul(a, b, transposeA, transposeB, false);
        return sd.mmul(a.castTo(matmul), b.castTo(matmul), transposeA, transposeB, false).castTo(DataType.FLOAT);
    }

    /** Layer norm of a rank-3 {@code x} over {@code axis} (biased variance, eps 1e-5), gain and bias along that axis. */
    SDVariable normalize(SDVariable x, int axis, SDVariable gain, SDVariable bias) {
        return NormAffine.of(sd, x, gain, bias, axis, axis, NORM_EPS);
    }

    /**
     * Normalises the conv extractor's [B, C, T] activations over {@code axis}: over time (2) for a group norm with one
     * group per channel, over channels (1) for a layer norm; the gain and bias are per channel either way.
     */
    SDVariable normalizeChannels(SDVariable x, int axis, SDVariable gain, SDVariable bias) {
        return NormAffine.of(sd, x, gain, bias, axis, 1, NORM_EPS);
    }

    /**
     * {@code x * s} with {@code s} broadcast to x's shape, the same values and gradients. M2.1's multiply_bp
     * tiles both operands to the full shape and reduces them when the shapes differ (66 ms for a
     * [1,512,4799] x [1,512,1] product here); expanding {@code s} with an add, whose backward is a plain sum,
     * and multiplying equal shapes costs 12 ms.
     */
    SDVariable mulExpanded(SDVariable x, SDVariable s) {
        return x.mul(sd.zerosLike(x).add(s));
    }

    /** Exact GELU, 0.5 x (1 + erf(x / sqrt 2)), as torch.nn.GELU. */
    SDVariable gelu(SDVariable x) {
        return Gelu.of(sd, x);
    }

    /** {@code x [N,in] @ weight[out,in]^T + bias[out]}. */
    SDVariable linear(SDVariable x2d, SDVariable weight, SDVariable bias) {
        if (matmul == DataType.FLOAT) return Linear.of(sd, x2d, weight, bias);
        return mmul(x2d, weight, false, true).add(bias);
    }

    /**
     * 1-D convolution, no padding or bias, of NCW input {@code [B, in, length]} with an HF-layout weight
     * {@code [out, in, k]}, as the columns of {@link Im2ColRows} and one matmul. M2.1's conv1d (and its backward above all) ran
     * 1.7-5x slower than this on the extractor's layers, at 32 and at 512 channels.
     */
    SDVariable conv1d(SDVariable x, SDVariable weightOutInK, int in, int out, int kernel, int stride, long length) {
        Im2ColRows.Geometry g = new Im2ColRows.Geometry(in, Math.toIntExact(length), kernel, stride, 0, 1, false);
        SDVariable cols = Im2ColRows.of(sd, x, g); // [in * k, B * frames]
        return mmul(weightOutInK.reshape(out, (long) in * kernel), cols, false, false) // [out, B * frames]
                .reshape(out, -1, g.frames()).permute(1, 0, 2);
    }

    /**
     * log-softmax over axis 1 of a 2-D input. Composed by hand: M2.1's LogSoftMax with an explicit
     * dimension fails while building its gradient. The shift by the (gradient-free) row max keeps
     * exp in range and does not change the value or the gradient.
     */
    SDVariable logSoftmaxRows(SDVariable x) {
        SDVariable shifted = x.sub(new StopGradient(sd, x.max(true, 1)).outputVariable());
        return shifted.sub(sd.math().log(sd.math().exp(shifted).sum(true, 1)));
    }

    /** Identity forward; the backward pass multiplies the gradient by {@code mult} (fairseq GradMultiply). */
    SDVariable gradMultiply(SDVariable x, double mult) {
        if (mult == 1.0) return x;
        SDVariable frozen = new StopGradient(sd, x).outputVariable();
        return x.mul(mult).add(frozen.mul(1.0 - mult));
    }
}
