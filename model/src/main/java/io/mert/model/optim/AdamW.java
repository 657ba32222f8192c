package io.mert.model.optim;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.floating.Sqrt;
import org.nd4j.linalg.factory.Nd4j;

/**
 * fairseq's {@code adam} optimizer (Adam with decoupled, AdamW-style weight decay) over one flat
 * float parameter buffer. Per step, with t the step count after increment:
 * <pre>
 *   m  = beta1 * m + (1 - beta1) * g
 *   v  = beta2 * v + (1 - beta2) * g * g
 *   denom = sqrt(v) + eps
 *   stepSize = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
 *   p  = p + (-weightDecay * lr) * p          (only when weightDecay != 0)
 *   p  = p + (-stepSize) * (m / denom)
 * </pre>
 * Everything runs as in-place ND4J element-wise ops on preallocated buffers; one scratch buffer of the
 * model's size is allocated once. Each op is a single IEEE-rounded operation per element (no BLAS axpy,
 * which may fuse multiply-add differently per CPU), so workers fed identical inputs produce identical bits
 * regardless of thread count or SIMD width. Not thread-safe: one owner thread calls {@link #step}.
 */
public final class AdamW {

    /** Hyper-parameters; fairseq names adam_betas, adam_eps, weight_decay. */
    public record Config(double beta1, double beta2, double eps, double weightDecay) {
        public Config {
            if (!(beta1 >= 0 && beta1 < 1)) throw new IllegalArgumentException("adam beta1 must be in [0, 1), got " + beta1);
            if (!(beta2 >= 0 && beta2 < 1)) throw new IllegalArgumentException("adam beta2 must be in [0, 1), got " + beta2);
            if (!(eps > 0) || Double.isInfinite(eps)) throw new IllegalArgumentException("adam_eps must be > 0, got " + eps);
            if (!(weightDecay >= 0) || Double.isInfinite(weightDecay)) {
                throw new IllegalArgumentException("weight_decay must be >= 0, got " + weightDecay);
            }
        }

        /** MERT's pre-training setting: betas (0.9, 0.98), eps 1e-6, weight decay 0.01. */
        public static Config mert() {
            return new Config(0.9, 0.98, 1e-6, 0.01);
        }
    }

    private final Config config;
    private final long size;
    private final INDArray expAvg;
    private final INDArray expAvgSq;
    private final INDArray scratch;
    private long step;

    /** Allocates zeroed moments and the scratch buffer: three model-sized float buffers. */
    public AdamW(long size, Config config) {
        if (size <= 0) throw new IllegalArgumentException("parameter count must be > 0, got " + size);
        this.config = config;
        this.size = size;
        this.expAvg = Nd4j.zeros(DataType.FLOAT, size);
        this.expAvgSq = Nd4j.zeros(DataType.FLOAT, size);
        this.scratch = Nd4j.create(DataType.FLOAT, size);
    }

    /**
     * One update of {@code params} (in place) from {@code grads} at learning rate {@code lr}.
     * {@code grads} is left unchanged.
     */
    public void step(INDArray params, INDArray grads, double lr) {
        INDArray p = FlatArrays.requireFlatFloat(params, size, "params");
        INDArray g = FlatArrays.requireFlatFloat(grads, size, "grads");
        if (!(lr >= 0) || Double.isInfinite(lr)) throw new IllegalArgumentException("lr must be finite and >= 0, got " + lr);
        step++;
        double beta1 = config.beta1();
        double beta2 = config.beta2();

        // m = beta1 * m + (1 - beta1) * g
        expAvg.muli(beta1);
        g.mul(1 - beta1, scratch);
        expAvg.addi(scratch);

        // v = beta2 * v + (1 - beta2) * g * g
        expAvgSq.muli(beta2);
        g.mul(g, scratch);
        scratch.muli(1 - beta2);
        expAvgSq.addi(scratch);

        // Decoupled weight decay on the pre-update parameters, as fairseq's p.add_(p, alpha=-wd*lr).
        // Written as p + (-wd*lr)*p rather than p*(1 - wd*lr): the factor 1 - 5e-6 is not representable
        // in float to better than about 1%, the small product is.
        if (config.weightDecay() != 0 && lr != 0) {
            p.mul(-config.weightDecay() * lr, scratch);
            p.addi(scratch);
        }

        // denom = sqrt(v) + eps; p += -stepSize * m / denom
        Nd4j.getExecutioner().exec(new Sqrt(expAvgSq, scratch));
        scratch.addi(config.eps());
        scratch.rdivi(expAvg);
        double biasCorrection1 = 1 - Math.pow(beta1, step);
        double biasCorrection2 = 1 - Math.pow(beta2, step);
        double stepSize = lr * Math.sqrt(biasCorrection2) / biasCorrection1;
        scratch.muli(-stepSize);
        p.addi(scratch);
    }

    public Config config() {
        return config;
    }

    /** Number of parameters. */
    public long size() {
        return size;
    }

    /** Number of steps taken (fairseq's state["step"]). */
    public long stepCount() {
        return step;
    }

    /** The live first-moment buffer (fairseq's exp_avg); read it for checkpoints, do not resize it. */
    public INDArray expAvg() {
        return expAvg;
    }

    /** The live second-moment buffer (fairseq's exp_avg_sq). */
    public INDArray expAvgSq() {
        return expAvgSq;
    }

    /** Restores state saved from another instance or a checkpoint; copies the given buffers. */
    public void restore(long stepCount, INDArray savedExpAvg, INDArray savedExpAvgSq) {
        if (stepCount < 0) throw new IllegalArgumentException("optimizer step must be >= 0, got " + stepCount);
        expAvg.assign(FlatArrays.requireFlatFloat(savedExpAvg, size, "exp_avg"));
        expAvgSq.assign(FlatArrays.requireFlatFloat(savedExpAvgSq, size, "exp_avg_sq"));
        this.step = stepCount;
    }

    /**
     * Sets only the step counter, for callers that filled {@link #expAvg()} and {@link #expAvgSq()}
     * in place (for example straight from a checkpoint file or a donor stream).
     */
    public void setStepCount(long stepCount) {
        if (stepCount < 0) throw new IllegalArgumentException("optimizer step must be >= 0, got " + stepCount);
        this.step = stepCount;
    }

    /** Back to a fresh optimizer: zero moments, step 0. */
    public void reset() {
        expAvg.assign(0);
        expAvgSq.assign(0);
        this.step = 0;
    }
}
