package io.mert.model.optim;

import io.mert.model.config.LossScaleConfig;

/**
 * fairseq's {@code DynamicLossScaler} (fairseq/optim/dynamic_loss_scaler.py), the same rules step for step: an update
 * whose unscaled gradient norm is not finite is an overflow and is skipped, and the scale halves (once the share of
 * overflowing updates since the last rescale reaches the tolerance); after {@code scaleWindow} updates without an
 * overflow it doubles. A scale that would fall to the minimum stops training ({@link MinimumLossScaleException}).
 * Checked against fairseq's own class by {@code DynamicLossScalerTest}.
 *
 * <p>Every rank sees the same summed gradients, so every rank's scaler takes the same decisions; its state travels in
 * checkpoints and state transfers so a resumed or joining worker continues with the same scale.
 */
public final class DynamicLossScaler {

    private final LossScaleConfig config;
    private double scale;
    private long iter;
    private long lastOverflowIter = -1;
    private long lastRescaleIter = -1;
    private long overflowsSinceRescale;

    public DynamicLossScaler(LossScaleConfig config) {
        this.config = config;
        this.scale = config.initScale();
    }

    /** The factor the next step's loss is multiplied by before its backward pass. */
    public double scale() {
        return scale;
    }

    /** After an update was applied (no overflow): counts it, and doubles the scale at the end of a quiet window. */
    public void update() {
        if ((iter - lastOverflowIter) % config.scaleWindow() == 0) {
            scale *= 2;
            lastRescaleIter = iter;
        }
        iter++;
    }

    /**
     * Checks an update's gradient norm (computed on the unscaled gradients).
     *
     * @return true when it overflowed: the update must be skipped, and the scale may have been lowered
     * @throws MinimumLossScaleException when the scale would reach {@code common.min_loss_scale} (the scale is left as
     *                                   it was, as fairseq does)
     */
    public boolean overflowed(double gradNorm) {
        if (Double.isFinite(gradNorm)) return false;
        double previous = scale;
        long sinceRescale = iter - lastRescaleIter;
        if (sinceRescale == 0) sinceRescale = 1000; // as fairseq: an overflow right after a rescale in the same update
        lastOverflowIter = iter;
        overflowsSinceRescale++;
        if ((double) overflowsSinceRescale / sinceRescale >= config.tolerance()) {
            scale /= 2;
            if (!Double.isNaN(config.threshold())) scale = Math.max(scale, config.threshold());
            lastRescaleIter = iter;
            overflowsSinceRescale = 0;
        }
        if (scale <= config.minScale()) {
            scale = previous;
            throw new MinimumLossScaleException("minimum loss scale reached (" + config.minScale() + "): the loss is probably "
                    + "exploding; lower optimization.lr, keep optimization.clip_norm on, or raise the batch size");
        }
        iter++;
        return true;
    }

    /** The state that continues this scaler elsewhere: a checkpoint or a joining worker. */
    public State state() {
        return new State(scale, iter, lastOverflowIter, lastRescaleIter, overflowsSinceRescale);
    }

    public void restore(State s) {
        if (!(s.scale() > 0) || Double.isInfinite(s.scale()) || s.iter() < 0 || s.overflowsSinceRescale() < 0
                || s.lastOverflowIter() >= s.iter() + 1 || s.lastRescaleIter() >= s.iter() + 1) {
            throw new IllegalArgumentException("not a loss scaler state: " + s);
        }
        scale = s.scale();
        iter = s.iter();
        lastOverflowIter = s.lastOverflowIter();
        lastRescaleIter = s.lastRescaleIter();
        overflowsSinceRescale = s.overflowsSinceRescale();
    }

    /** Back to the initial scale (a run rolled back to step 0). */
    public void reset() {
        restore(new DynamicLossScaler(config).state());
    }

    /** fairseq's {@code loss_scale}, {@code _iter}, {@code _last_overflow_iter}, {@code _last_rescale_iter}, {@code _overflows_since_rescale}. */
    public record State(double scale, long iter, long lastOverflowIter, long lastRescaleIter, long overflowsSinceRescale) {

        /** As a checkpoint's trainer_state.json keeps it (fairseq's names, without their underscores). */
        public java.util.Map<String, Object> toMap() {
            java.util.Map<String, Object> m = new java.util.LinkedHashMap<>();
            m.put("loss_scale", scale);
            m.put("iter", iter);
            m.put("last_overflow_iter", lastOverflowIter);
            m.put("last_rescale_iter", lastRescaleIter);
            m.put("overflows_since_rescale", overflowsSinceRescale);
            return m;
        }

        /** Reads {@link #toMap()}'s form back; {@code source} names it in errors. */
        public static State fromMap(Object json, String source) {
            if (!(json instanceof java.util.Map<?, ?> m)) throw new IllegalArgumentException(source + ": not an object");
            return new State(number(m, "loss_scale", source).doubleValue(), number(m, "iter", source).longValue(),
                    number(m, "last_overflow_iter", source).longValue(), number(m, "last_rescale_iter", source).longValue(),
                    number(m, "overflows_since_rescale", source).longValue());
        }

        private static Number number(java.util.Map<?, ?> m, String key, String source) {
            if (!(m.get(key) instanceof Number n)) throw new IllegalArgumentException(source + ": " + key + " is missing or not a number");
            return n;
        }
    }

    /** fairseq's FloatingPointError: training cannot continue with this learning rate. */
    public static final class MinimumLossScaleException extends IllegalStateException {
        MinimumLossScaleException(String message) {
            super(message);
        }
    }
}
