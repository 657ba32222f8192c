package io.mert.model.optim;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.function.Consumer;
import org.bytedeco.javacpp.BytePointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.concurrency.AffinityManager;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Checks and raw-memory access for the flat float buffers that hold parameters, gradients and
 * optimizer moments. Raw access hands out direct {@link ByteBuffer}s over the array's off-heap memory
 * (no copy, no boxing), in chunks because a ByteBuffer cannot exceed 2 GiB.
 */
public final class FlatArrays {

    /** Largest chunk handed out by default: 1 GiB, a multiple of 4 bytes. */
    public static final int MAX_CHUNK_BYTES = 1 << 30;

    private FlatArrays() {}

    /**
     * Returns {@code array} as a rank-1 view after checking it is a contiguous FLOAT buffer of
     * {@code expectedLength} floats; {@code what} names it in error messages.
     */
    public static INDArray requireFlatFloat(INDArray array, long expectedLength, String what) {
        INDArray flat = requireFlatFloat(array, what);
        if (flat.length() != expectedLength) {
            throw new IllegalArgumentException(what + " has " + flat.length() + " floats, expected " + expectedLength);
        }
        return flat;
    }

    /** Returns {@code array} as a rank-1 view after checking it is a contiguous FLOAT buffer. */
    public static INDArray requireFlatFloat(INDArray array, String what) {
        if (array == null) throw new IllegalArgumentException(what + " is null");
        if (array.dataType() != DataType.FLOAT) {
            throw new IllegalArgumentException(what + " must be FLOAT, got " + array.dataType());
        }
        if (!isContiguous(array)) {
            throw new IllegalArgumentException(what + " must be a contiguous C-order buffer, got shape "
                    + java.util.Arrays.toString(array.shape()) + " strides " + java.util.Arrays.toString(array.stride()));
        }
        return array.rank() == 1 ? array : array.reshape(array.length());
    }

    /** True when the elements lie densely in C order (strides of size-1 dimensions do not matter). */
    public static boolean isContiguous(INDArray a) {
        if (a.length() <= 1) return true;
        long[] shape = a.shape();
        long[] stride = a.stride();
        long expected = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] != 1 && stride[i] != expected) return false;
            expected *= shape[i];
        }
        return true;
    }

    /**
     * Feeds {@code chunkConsumer} little-endian direct ByteBuffers covering floats
     * {@code [fromFloat, fromFloat + count)} of the flat array, in order. The buffers alias the
     * array's memory: reading them reads the array, writing them writes it. Call
     * {@link #markHostWritten(INDArray)} after writing so device backends pick up the change.
     */
    public static void forEachByteChunk(INDArray flat, long fromFloat, long count, Consumer<ByteBuffer> chunkConsumer) {
        forEachByteChunk(flat, fromFloat, count, MAX_CHUNK_BYTES, chunkConsumer);
    }

    /** As above with chunks of at most {@code maxChunkBytes} (a positive multiple of 4). */
    public static void forEachByteChunk(INDArray flat, long fromFloat, long count, int maxChunkBytes,
                                        Consumer<ByteBuffer> chunkConsumer) {
        if (maxChunkBytes <= 0 || maxChunkBytes % Float.BYTES != 0) {
            throw new IllegalArgumentException("chunk size must be a positive multiple of 4, got " + maxChunkBytes);
        }
        requireNativeLittleEndian();
        if (fromFloat < 0 || count < 0 || fromFloat + count > flat.length()) {
            throw new IllegalArgumentException("range [" + fromFloat + ", " + (fromFloat + count)
                    + ") outside a buffer of " + flat.length() + " floats");
        }
        if (count == 0) return;
        Nd4j.getAffinityManager().ensureLocation(flat, AffinityManager.Location.HOST);
        // addressPointer() already points at the array's first element (it includes a view's offset).
        long startByte = fromFloat * Float.BYTES;
        long endByte = startByte + count * Float.BYTES;
        BytePointer bytes = new BytePointer(flat.data().addressPointer());
        bytes.capacity(endByte);
        for (long pos = startByte; pos < endByte; ) {
            long next = Math.min(endByte, pos + maxChunkBytes);
            bytes.position(pos).limit(next);
            chunkConsumer.accept(bytes.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN));
            pos = next;
        }
    }

    /**
     * A rank-1 float array over {@code count} floats of native memory this class does not own (a shared-memory
     * mapping): nothing is copied, writes through the array land there, and ND4J never frees it. The caller keeps the
     * memory mapped for as long as the array is used. Host memory only: a device backend would work on its own copy.
     */
    public static INDArray floatsAt(long address, long count) {
        if (address == 0 || count <= 0) throw new IllegalArgumentException("no memory at " + address + " for " + count + " floats");
        org.bytedeco.javacpp.FloatPointer floats = new org.bytedeco.javacpp.FloatPointer(new ForeignMemory(address, count));
        org.nd4j.linalg.api.buffer.DataBuffer buffer = Nd4j.createBuffer(floats, DataType.FLOAT, count,
                org.bytedeco.javacpp.indexer.FloatIndexer.create(floats));
        return Nd4j.create(buffer, new long[] {count}, new long[] {1}, 0, 'c', DataType.FLOAT);
    }

    /** A JavaCPP pointer to memory mapped elsewhere: no deallocator, so it is never freed through JavaCPP. */
    private static final class ForeignMemory extends org.bytedeco.javacpp.Pointer {
        ForeignMemory(long address, long count) {
            this.address = address;
            this.limit = count;
            this.capacity = count;
        }
    }

    /** Tells a device backend that the host copy of {@code array} now holds the truth. No-op on CPU. */
    public static void markHostWritten(INDArray array) {
        Nd4j.getAffinityManager().tagLocation(array, AffinityManager.Location.HOST);
    }

    static void requireNativeLittleEndian() {
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new UnsupportedOperationException("raw float buffers are only supported on little-endian machines");
        }
    }
}
