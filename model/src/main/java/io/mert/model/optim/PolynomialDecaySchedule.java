package io.mert.model.optim;

/**
 * fairseq's {@code polynomial_decay} learning-rate schedule: linear warmup from 0 to the peak over
 * {@code warmupUpdates}, then polynomial decay to {@code endLearningRate} at {@code totalNumUpdate},
 * constant afterwards.
 *
 * <p>{@link #lrAt(long)} is the value fairseq's {@code step_update(num_updates)} sets after
 * {@code numUpdates} completed updates, i.e. the learning rate the next update (number
 * {@code numUpdates + 1}) uses. fairseq calls {@code step_update(0)} before the first update, so with
 * warmup the very first update runs at lr 0, exactly as here. Pure Java: the coordinator uses it.
 */
public final class PolynomialDecaySchedule {

    private final double peakLr;
    private final int warmupUpdates;
    private final int totalNumUpdate;
    private final double endLearningRate;
    private final double power;

    public PolynomialDecaySchedule(double peakLr, int warmupUpdates, int totalNumUpdate,
                                   double endLearningRate, double power) {
        if (!(peakLr >= 0) || Double.isInfinite(peakLr)) {
            throw new IllegalArgumentException("lr must be a finite number >= 0, got " + peakLr);
        }
        if (warmupUpdates < 0) {
            throw new IllegalArgumentException("warmup_updates must be >= 0, got " + warmupUpdates);
        }
        if (totalNumUpdate <= 0) {
            // fairseq asserts total_num_update > 0
            throw new IllegalArgumentException("total_num_update must be > 0, got " + totalNumUpdate);
        }
        if (!(endLearningRate >= 0) || Double.isInfinite(endLearningRate)) {
            throw new IllegalArgumentException("end_learning_rate must be a finite number >= 0, got " + endLearningRate);
        }
        if (!(power > 0) || Double.isInfinite(power)) {
            throw new IllegalArgumentException("power must be a finite number > 0, got " + power);
        }
        this.peakLr = peakLr;
        this.warmupUpdates = warmupUpdates;
        this.totalNumUpdate = totalNumUpdate;
        this.endLearningRate = endLearningRate;
        this.power = power;
    }

    /** Learning rate after {@code numUpdates} completed updates (the one the next update uses). */
    public double lrAt(long numUpdates) {
        if (numUpdates < 0) throw new IllegalArgumentException("numUpdates must be >= 0, got " + numUpdates);
        // Same branch order as fairseq's step_update: warmup wins even when warmup >= total.
        if (warmupUpdates > 0 && numUpdates <= warmupUpdates) {
            double warmupFactor = numUpdates / (double) warmupUpdates;
            return warmupFactor * peakLr;
        }
        if (numUpdates >= totalNumUpdate) {
            return endLearningRate;
        }
        double lrRange = peakLr - endLearningRate;
        double pctRemaining = 1.0 - (double) (numUpdates - warmupUpdates) / (double) (totalNumUpdate - warmupUpdates);
        return lrRange * Math.pow(pctRemaining, power) + endLearningRate;
    }

    public double peakLr() {
        return peakLr;
    }

    public int warmupUpdates() {
        return warmupUpdates;
    }

    public int totalNumUpdate() {
        return totalNumUpdate;
    }

    public double endLearningRate() {
        return endLearningRate;
    }

    public double power() {
        return power;
    }
}
