package io.mert.model.nn;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ops.impl.controlflow.compat.StopGradient;
import org.nd4j.linalg.api.ops.impl.layers.convolution.config.Conv1DConfig;
import org.nd4j.linalg.api.ops.impl.layers.convolution.config.PaddingMode;

/**
 * Building blocks with PyTorch semantics composed from SameDiff primitives. The fused M2.1 ops
 * differ from PyTorch: {@code nn().layerNorm} has no epsilon and {@code nn().gelu} is the
 * sigmoid approximation, so both are spelled out here.
 */
final class GraphOps {

    static final double NORM_EPS = 1e-5;

    private final SameDiff sd;

    GraphOps(SameDiff sd) {
        this.sd = sd;
    }

    /** Normalises over {@code axis} (biased variance, eps 1e-5), then scales and shifts by broadcast gain/bias. */
    SDVariable normalize(SDVariable x, int axis, SDVariable gain, SDVariable bias) {
        SDVariable centered = x.sub(x.mean(true, axis));
        SDVariable var = sd.math().square(centered).mean(true, axis);
        return centered.mul(sd.math().rsqrt(var.add(NORM_EPS))).mul(gain).add(bias);
    }

    /** Exact GELU, 0.5 x (1 + erf(x / sqrt 2)), as torch.nn.GELU. */
    SDVariable gelu(SDVariable x) {
        return x.mul(sd.math().erf(x.mul(1.0 / Math.sqrt(2.0))).add(1.0)).mul(0.5);
    }

    /** {@code x [N,in] @ weight[out,in]^T + bias[out]}. */
    SDVariable linear(SDVariable x2d, SDVariable weight, SDVariable bias) {
        return sd.mmul(x2d, weight, false, true, false).add(bias);
    }

    /** 1-D convolution of NCW input with an HF-layout weight {@code [out,in,k]}, no bias. */
    SDVariable conv1d(SDVariable x, SDVariable weightOutInK, int kernel, int stride, int padding) {
        SDVariable w = weightOutInK.permute(2, 1, 0); // SameDiff wants [k, in, out]
        Conv1DConfig cfg = Conv1DConfig.builder().k(kernel).s(stride).p(padding).d(1)
                .dataFormat(Conv1DConfig.NCW).paddingMode(PaddingMode.VALID).build();
        return sd.cnn().conv1d(x, w, cfg);
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
