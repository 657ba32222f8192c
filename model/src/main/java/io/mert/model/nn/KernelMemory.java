package io.mert.model.nn;

import io.mert.model.optim.FlatArrays;
import org.bytedeco.javacpp.BytePointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.IntConsumer;

/** Raw float access to op arrays, and the threads the Java kernels split their work over. */
final class KernelMemory {

    private static final ExecutorService HELPERS = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "mert-kernel");
        t.setDaemon(true);
        return t;
    });

    /** Per-thread heap blocks for kernels that copy a block in, work on it in a plain loop and copy it out. */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[3][]);

    private KernelMemory() {
    }

    /** This thread's scratch block {@code slot} (0 or 1), at least {@code floats} long. */
    static float[] scratch(int slot, int floats) {
        float[][] blocks = SCRATCH.get();
        if (blocks[slot] == null || blocks[slot].length < floats) blocks[slot] = new float[floats];
        return blocks[slot];
    }

    /** The floats of a dense C-order float32 array (at most 2^31 - 1 bytes), aliasing its memory. */
    static FloatBuffer floats(INDArray a) {
        if (!isDense(a)) {
            throw new IllegalArgumentException("a Java kernel needs a dense C-order float32 array, got " + a.dataType()
                    + " shape " + Arrays.toString(a.shape()) + " strides " + Arrays.toString(a.stride()));
        }
        long bytes = a.length() * Float.BYTES;
        if (bytes > Integer.MAX_VALUE) throw new IllegalArgumentException("array of " + bytes + " bytes is too large for a Java kernel");
        BytePointer p = new BytePointer(a.data().addressPointer());
        p.capacity(bytes).limit(bytes);
        return p.asByteBuffer().order(ByteOrder.nativeOrder()).asFloatBuffer();
    }

    /** A float32 array whose elements lie densely in C order. */
    static boolean isDense(INDArray a) {
        return a.dataType() == DataType.FLOAT && FlatArrays.isContiguous(a);
    }

    /**
     * Runs {@code task} on every index in [0, count), in as many contiguous ranges as ND4J has threads (the caller
     * runs the first), and returns when all are done.
     */
    static void parallelFor(int count, IntConsumer task) {
        int parts = Math.max(1, Math.min(count, org.nd4j.linalg.factory.Nd4j.getEnvironment().maxThreads()));
        if (parts == 1) {
            for (int i = 0; i < count; i++) task.accept(i);
            return;
        }
        Future<?>[] others = new Future<?>[parts - 1];
        for (int p = 1; p < parts; p++) {
            int from = (int) ((long) count * p / parts), to = (int) ((long) count * (p + 1) / parts);
            others[p - 1] = HELPERS.submit(() -> {
                for (int i = from; i < to; i++) task.accept(i);
            });
        }
        for (int i = 0, to = count / parts; i < to; i++) task.accept(i);
        try {
            for (Future<?> f : others) f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted in a Java kernel", e);
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            throw new IllegalStateException("a Java kernel failed", e.getCause());
        }
    }
}
