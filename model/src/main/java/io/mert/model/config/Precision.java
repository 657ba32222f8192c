package io.mert.model.config;

import org.nd4j.linalg.api.buffer.DataType;

/**
 * The arithmetic of a training step ({@code common.fp16} / {@code common.bf16}, as fairseq spells them). Parameters,
 * optimizer state, gradients as the optimizer sees them, norms, softmax and losses stay float32 in every mode; the
 * reduced modes run each matrix product (linear layers, convolutions as im2col products, attention) on operands cast
 * to half or bfloat16, as {@code torch.autocast} does. fp16's narrow range needs a dynamic loss scale
 * ({@link io.mert.model.optim.DynamicLossScaler}); bfloat16 has float32's range and needs none (fairseq scales
 * neither).
 */
public enum Precision {
    FP32(DataType.FLOAT, false),
    FP16(DataType.HALF, true),
    BF16(DataType.BFLOAT16, false);

    private final DataType matmul;
    private final boolean scalesLoss;

    Precision(DataType matmul, boolean scalesLoss) {
        this.matmul = matmul;
        this.scalesLoss = scalesLoss;
    }

    /** The type matrix products take their operands in. */
    public DataType matmulType() {
        return matmul;
    }

    /** Whether gradients are computed on a scaled loss (and must be unscaled and checked for overflow). */
    public boolean scalesLoss() {
        return scalesLoss;
    }

    public String configName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
