package io.mert.cli.bench;

import org.agrona.concurrent.UnsafeBuffer;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The machine's memory-copy rate, one thread, buffer to buffer off-heap (Unsafe.copyMemory, what
 * Aeron uses to move a frame in and out of its shared-memory log): the physical limit for moving
 * bytes between processes on one host. Reported per size because small copies run from cache.
 */
public final class CopyBandwidth {

    private static final long BYTES_PER_TRIAL = 512L << 20;

    private CopyBandwidth() {
    }

    /** Times {@code bytes} copies for each size of the plan; time per operation is one copy of that size. */
    public static List<Timings> measure(BenchPlan plan) {
        int largest = (int) plan.largest();
        UnsafeBuffer src = new UnsafeBuffer(ByteBuffer.allocateDirect(largest));
        UnsafeBuffer dst = new UnsafeBuffer(ByteBuffer.allocateDirect(largest));
        for (int i = 0; i < largest; i += 8) src.putLong(i, i * 0x9E3779B97F4A7C15L);
        dst.setMemory(0, largest, (byte) 1); // touch every page before timing
        List<Timings> out = new ArrayList<>();
        for (BenchPlan.Step s : plan.steps()) {
            int len = (int) s.bytes();
            int copies = (int) Math.max(s.iterations(), Math.min(1_000_000, BYTES_PER_TRIAL / len));
            for (int w = 0; w < Math.max(2, copies / 5); w++) dst.putBytes(0, src, 0, len);
            double[] trials = new double[plan.trials()];
            for (int t = 0; t < trials.length; t++) {
                long t0 = System.nanoTime();
                for (int c = 0; c < copies; c++) dst.putBytes(0, src, 0, len);
                trials[t] = (System.nanoTime() - t0) / 1e9;
            }
            if (dst.getLong(len - 8) != src.getLong(len - 8)) throw new IllegalStateException("copy of " + len + " bytes is wrong");
            out.add(new Timings(len, copies, trials));
        }
        return out;
    }
}
