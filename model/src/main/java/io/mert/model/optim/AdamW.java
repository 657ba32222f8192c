package io.mert.model.optim;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.FloatBuffer;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.Future;

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
 * One fused pass: blocks of the four buffers are copied into small heap arrays, updated by a loop the JIT
 * vectorizes, and copied back, on up to {@code threads} threads over disjoint ranges. The ND4J version
 * made about twelve passes over model-sized memory and a scratch buffer (440 ms for 95M parameters).
 * Every operation is a single IEEE-rounded float operation per element (Java never fuses a multiply-add),
 * so the bits do not depend on the thread count or SIMD width. Not thread-safe: one owner thread calls
 * {@link #step}.
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

    /** Floats per block: four blocks of 16 KiB stay in L1/L2 while one is updated. */
    static final int BLOCK = 4096;
    /** Below this many floats per thread a second thread costs more than it saves. */
    private static final long MIN_FLOATS_PER_THREAD = 1 << 18;

    private final Config config;
    private final long size;
    private final INDArray expAvg;
    private final INDArray expAvgSq;
    private final FusedUpdate[] lanes;
    private ExecutorService pool;
    private long step;

    /** Allocates zeroed moments (two model-sized float buffers); updates run on one thread. */
    public AdamW(long size, Config config) {
        this(size, config, 1);
    }

    /** As above, the update split over up to {@code threads} threads (the caller's included). */
    public AdamW(long size, Config config, int threads) {
        if (size <= 0) throw new IllegalArgumentException("parameter count must be > 0, got " + size);
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        this.config = config;
        this.size = size;
        this.expAvg = Nd4j.zeros(DataType.FLOAT, size);
        this.expAvgSq = Nd4j.zeros(DataType.FLOAT, size);
        int lanesWorthIt = (int) Math.max(1, Math.min(threads, size / MIN_FLOATS_PER_THREAD));
        this.lanes = new FusedUpdate[lanesWorthIt];
        for (int i = 0; i < lanes.length; i++) lanes[i] = new FusedUpdate();
    }

    /**
     * One update of {@code params} (in place) from {@code grads} at learning rate {@code lr}.
     * {@code grads} is left unchanged.
     */
    public void step(INDArray params, INDArray grads, double lr) {
        step(params, grads, lr, 1f);
    }

    /**
     * One update from the gradients {@code grads × gradScale}, multiplied as they are read (fairseq's FP16 optimizer
     * folds its unscale and clip factors into one multiplier the same way): {@code grads} is only read, so it may be
     * memory that other processes read too. A scale of 1 gives exactly {@link #step(INDArray, INDArray, double)}.
     */
    public void step(INDArray params, INDArray grads, double lr, float gradScale) {
        if (!Float.isFinite(gradScale)) throw new IllegalArgumentException("gradScale must be finite, got " + gradScale);
        INDArray p = FlatArrays.requireFlatFloat(params, size, "params");
        INDArray g = FlatArrays.requireFlatFloat(grads, size, "grads");
        if (!(lr >= 0) || Double.isInfinite(lr)) throw new IllegalArgumentException("lr must be finite and >= 0, got " + lr);
        step++;
        double beta1 = config.beta1();
        double beta2 = config.beta2();
        double biasCorrection1 = 1 - Math.pow(beta1, step);
        double biasCorrection2 = 1 - Math.pow(beta2, step);
        double stepSize = lr * Math.sqrt(biasCorrection2) / biasCorrection1;
        // Decoupled weight decay on the pre-update parameters, as fairseq's p.add_(p, alpha=-wd*lr).
        // Written as p + (-wd*lr)*p rather than p*(1 - wd*lr): the factor 1 - 5e-6 is not representable
        // in float to better than about 1%, the small product is.
        float decay = config.weightDecay() != 0 && lr != 0 ? (float) (-config.weightDecay() * lr) : 0f;
        for (FusedUpdate lane : lanes) {
            lane.set((float) beta1, (float) (1 - beta1), (float) beta2, (float) (1 - beta2), (float) config.eps(), decay,
                    (float) -stepSize, gradScale);
        }
        run(p, g);
        FlatArrays.markHostWritten(p);
        FlatArrays.markHostWritten(expAvg);
        FlatArrays.markHostWritten(expAvgSq);
    }

    private void run(INDArray p, INDArray g) {
        long per = (size + lanes.length - 1) / lanes.length;
        if (lanes.length == 1) {
            lanes[0].apply(p, g, expAvg, expAvgSq, 0, size);
            return;
        }
        if (pool == null) {
            // idle helpers exit after a while, so optimizers that are dropped leave no threads behind
            ThreadPoolExecutor helpers = new ThreadPoolExecutor(lanes.length - 1, lanes.length - 1, 10, TimeUnit.SECONDS,
                    new LinkedBlockingQueue<>(), r -> {
                        Thread t = new Thread(r, "adamw-update");
                        t.setDaemon(true);
                        return t;
                    });
            helpers.allowCoreThreadTimeOut(true);
            pool = helpers;
        }
        Future<?>[] others = new Future<?>[lanes.length - 1];
        for (int i = 1; i < lanes.length; i++) {
            long from = i * per;
            long to = Math.min(size, from + per);
            FusedUpdate lane = lanes[i];
            others[i - 1] = pool.submit(() -> lane.apply(p, g, expAvg, expAvgSq, from, to));
        }
        lanes[0].apply(p, g, expAvg, expAvgSq, 0, Math.min(size, per));
        try {
            for (Future<?> f : others) f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted during the AdamW update", e);
        } catch (ExecutionException e) {
            throw new IllegalStateException("AdamW update failed", e.getCause());
        }
    }

    /** One thread's share of an update, with its own heap blocks. */
    private static final class FusedUpdate {
        private final float[] pb = new float[BLOCK];
        private final float[] gb = new float[BLOCK];
        private final float[] mb = new float[BLOCK];
        private final float[] vb = new float[BLOCK];
        private float beta1, oneMinusBeta1, beta2, oneMinusBeta2, eps, decay, negStepSize, gradScale;

        void set(float beta1, float oneMinusBeta1, float beta2, float oneMinusBeta2, float eps, float decay, float negStepSize,
                 float gradScale) {
            this.gradScale = gradScale;
            this.beta1 = beta1;
            this.oneMinusBeta1 = oneMinusBeta1;
            this.beta2 = beta2;
            this.oneMinusBeta2 = oneMinusBeta2;
            this.eps = eps;
            this.decay = decay;
            this.negStepSize = negStepSize;
        }

        void apply(INDArray p, INDArray g, INDArray m, INDArray v, long from, long to) {
            for (long start = from; start < to; start += MAX_RANGE) {
                long end = Math.min(to, start + MAX_RANGE);
                applyRange(floats(p, start, end), floats(g, start, end), floats(m, start, end), floats(v, start, end),
                        (int) (end - start));
            }
        }

        private void applyRange(FloatBuffer pf, FloatBuffer gf, FloatBuffer mf, FloatBuffer vf, int n) {
            for (int at = 0; at < n; at += BLOCK) {
                int len = Math.min(BLOCK, n - at);
                pf.get(at, pb, 0, len);
                gf.get(at, gb, 0, len);
                mf.get(at, mb, 0, len);
                vf.get(at, vb, 0, len);
                update(len);
                pf.put(at, pb, 0, len);
                mf.put(at, mb, 0, len);
                vf.put(at, vb, 0, len);
            }
        }

        private void update(int len) {
            float b1 = beta1, c1 = oneMinusBeta1, b2 = beta2, c2 = oneMinusBeta2, e = eps, d = decay, s = negStepSize;
            float gs = gradScale;
            float[] p = pb, g = gb, m = mb, v = vb;
            for (int i = 0; i < len; i++) {
                float gi = g[i] * gs; // exact when gs is 1
                float mi = m[i] * b1 + gi * c1;
                float vi = v[i] * b2 + (gi * gi) * c2;
                float pi = p[i];
                pi = pi + pi * d;
                m[i] = mi;
                v[i] = vi;
                p[i] = pi + (mi / ((float) Math.sqrt(vi) + e)) * s;
            }
        }

        /** A direct buffer holds at most 2^31 - 1 bytes: ranges of 2^28 floats (1 GiB) fit one. */
        private static final long MAX_RANGE = FlatArrays.MAX_CHUNK_BYTES / Float.BYTES;

        /** Floats [from, to) of a flat array (at most {@link #MAX_RANGE}) as a buffer over its memory. */
        private static FloatBuffer floats(INDArray flat, long from, long to) {
            FloatBuffer[] out = new FloatBuffer[1];
            FlatArrays.forEachByteChunk(flat, from, to - from, b -> out[0] = b.asFloatBuffer());
            return out[0];
        }
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
