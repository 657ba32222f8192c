package io.mert.model.nn;

import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.internal.InferenceSession;
import org.nd4j.autodiff.samediff.internal.SessionMemMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayDeque;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The memory of a SameDiff session that runs the same graph on the same shapes again and again: every
 * array the session asks for comes from a pool keyed by data type and shape, and {@link #recycle} puts
 * back every array handed out since the last recycle, once the caller has read the step's outputs.
 * <p>
 * Why: M2.1's session gives back (to its own cache, or to the allocator) only the few arrays it knows
 * are dead mid-step; the rest (816 of 825 allocations in a tiny-preset step, 159 MiB) stay referenced
 * until the next call and are then left to the GC, which frees their off-heap memory only when it
 * collects their small Java owners: gigabytes of resident garbage, and a fresh allocation (page faults)
 * for every op output of every step. With the arena a step after the first allocates nothing new
 * through the session, and resident memory stays at one step's working set.
 * <p>
 * Not thread-safe; one arena per session (sessions are per thread).
 */
class StepArena implements SessionMemMgr {

    /**
     * Pooled arrays are found by type and element count, not shape: a permute's or reshape's output has the length of
     * its input in another shape, and one buffer serves both (95M step: fewer distinct buffers, a smaller pool).
     */
    private record Key(DataType type, long length) {
        static Key of(DataType type, long[] shape) {
            long n = 1;
            for (long d : shape) n *= d;
            return new Key(type, n);
        }
    }

    /** Stands in when arenas are switched off: recycles nothing, holds nothing. */
    static final StepArena NONE = new StepArena() {
        @Override
        void recycle() {
        }
    };

    private final Map<Key, ArrayDeque<INDArray>> free = new HashMap<>();
    private final Set<INDArray> handedOut = Collections.newSetFromMap(new IdentityHashMap<>());
    /** Handed-out arrays by first byte, to find the one a view lives in. */
    private final TreeMap<Long, INDArray> handedOutByAddress = new TreeMap<>();
    private StepLiveness liveness;
    private long pooledBytes;
    private long freshAllocations;
    private long requestedBytes;
    private long lastStepRequestedBytes;

    /** The arena of {@code fn}'s session on the calling thread, installed (replacing the default memory manager) if absent. */
    static StepArena of(SameDiff fn) {
        InferenceSession s = fn.getSessions().computeIfAbsent(Thread.currentThread().getId(), t -> new JavaKernelSession(fn));
        if (s.getMmgr() instanceof StepArena a) return a;
        StepArena a = new StepArena();
        s.setMmgr(a);
        return a;
    }

    @Override
    public INDArray allocate(boolean detached, DataType dataType, long... shape) {
        Key key = Key.of(dataType, shape);
        ArrayDeque<INDArray> q = free.get(key);
        INDArray pooled = q == null ? null : q.poll();
        INDArray a;
        if (pooled == null) {
            a = Nd4j.createUninitializedDetached(dataType, shape);
            pooledBytes += a.length() * dataType.width();
            freshAllocations++;
        } else {
            // A new object over the pooled memory: the session may still hold the old one (freed mid-step by
            // the liveness below) and must not be able to hand that back while the memory serves this one.
            a = java.util.Arrays.equals(pooled.shape(), shape)
                    ? Nd4j.createArrayFromShapeBuffer(pooled.data(), pooled.shapeInfoDataBuffer())
                    : Nd4j.create(pooled.data(), shape, Nd4j.getStrides(shape, 'c'), 0, 'c', dataType);
        }
        handedOut.add(a);
        handedOutByAddress.put(address(a), a);
        requestedBytes += a.length() * dataType.width();
        return a;
    }

    @Override
    public INDArray allocate(boolean detached, LongShapeDescriptor descriptor) {
        if (descriptor.isEmpty() || descriptor.getOrder() != 'c') return Nd4j.create(descriptor).detach(); // rare: not pooled
        return allocate(detached, descriptor.dataType(), descriptor.getShape());
    }

    @Override
    public INDArray ulike(INDArray arr) {
        return allocate(false, arr.dataType(), arr.shape());
    }

    @Override
    public INDArray dup(INDArray arr) {
        INDArray copy = ulike(arr);
        copy.assign(arr);
        return copy;
    }

    /** The session found {@code arr} dead mid-step: it may serve the next request of its shape at once. */
    @Override
    public void release(INDArray arr) {
        if (handedOut.remove(arr)) {
            handedOutByAddress.remove(address(arr));
            free.computeIfAbsent(Key.of(arr.dataType(), arr.shape()), k -> new ArrayDeque<>()).push(arr);
        }
    }

    /** The handed-out array whose memory holds {@code view}'s first element, or null (not from this arena). */
    INDArray handedOutArrayOf(INDArray view) {
        if (view == null || view.isEmpty() || view.data() == null) return null;
        long at = address(view);
        Map.Entry<Long, INDArray> e = handedOutByAddress.floorEntry(at);
        if (e == null) return null;
        INDArray a = e.getValue();
        return at < e.getKey() + a.length() * a.dataType().width() ? a : null;
    }

    /** Frees arrays mid-step from now on, once {@code liveness} finds nothing later in the step reads them. */
    void useLiveness(StepLiveness liveness) {
        this.liveness = liveness;
    }

    private static long address(INDArray a) {
        return a.data().addressPointer().address(); // includes a view's offset
    }

    /**
     * Takes back every array handed out since the last call: call it after the step's outputs have been
     * read or copied, never while the caller still holds one of them.
     */
    void recycle() {
        for (INDArray a : handedOut) free.computeIfAbsent(Key.of(a.dataType(), a.shape()), k -> new ArrayDeque<>()).push(a);
        handedOut.clear();
        handedOutByAddress.clear();
        if (liveness != null) liveness.reset();
        lastStepRequestedBytes = requestedBytes;
        requestedBytes = 0;
    }

    /** Bytes the session asked for between the last two recycles: the pool never holds more than one step's requests. */
    long lastStepRequestedBytes() {
        return lastStepRequestedBytes;
    }

    /** Off-heap bytes this arena has allocated in all (its arrays are reused, never freed before {@link #close}). */
    long pooledBytes() {
        return pooledBytes;
    }

    /**
     * Arrays allocated because the pool had none of the shape. It stops growing after the first steps of a
     * fixed shape; a later step can add a few when M2.1 runs the same ops in another order and more arrays
     * of one shape are alive at once.
     */
    long freshAllocations() {
        return freshAllocations;
    }

    @Override
    public void close() {
        recycle();
        for (ArrayDeque<INDArray> q : free.values()) {
            for (INDArray a : q) if (a.closeable()) a.close();
        }
        free.clear();
        pooledBytes = 0;
    }
}
