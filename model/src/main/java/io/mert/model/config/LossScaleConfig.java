package io.mert.model.config;

/**
 * fairseq's dynamic loss scaling settings for {@code common.fp16}.
 *
 * @param initScale     {@code common.fp16_init_scale}: the first scale (fairseq: 128)
 * @param scaleWindow   {@code common.fp16_scale_window}: updates without overflow before the scale doubles (fairseq:
 *                      2^14 / distributed_world_size when unset)
 * @param tolerance     {@code common.fp16_scale_tolerance}: the share of overflowing updates since the last rescale
 *                      that is tolerated before the scale halves (0: halve on every overflow)
 * @param minScale      {@code common.min_loss_scale}: a scale falling to this stops the run (the loss is exploding)
 * @param threshold     {@code common.threshold_loss_scale}: a floor the scale never goes under, or NaN for none
 */
public record LossScaleConfig(double initScale, int scaleWindow, double tolerance, double minScale, double threshold) {

    public LossScaleConfig {
        if (!(initScale > 0) || Double.isInfinite(initScale)) throw new ConfigException("common.fp16_init_scale=" + initScale + ": must be > 0");
        if (scaleWindow < 1) throw new ConfigException("common.fp16_scale_window=" + scaleWindow + ": must be >= 1");
        if (!(tolerance >= 0 && tolerance <= 1)) throw new ConfigException("common.fp16_scale_tolerance=" + tolerance + ": allowed range is [0, 1]");
        if (!(minScale > 0)) throw new ConfigException("common.min_loss_scale=" + minScale + ": must be > 0");
        if (!Double.isNaN(threshold) && !(threshold > 0)) throw new ConfigException("common.threshold_loss_scale=" + threshold + ": must be > 0");
    }

    /** fairseq's defaults for a world of {@code worldSize} workers. */
    public static LossScaleConfig defaults(int worldSize) {
        return new LossScaleConfig(128, Math.max(1, (1 << 14) / Math.max(1, worldSize)), 0.0, 1e-4, Double.NaN);
    }
}
