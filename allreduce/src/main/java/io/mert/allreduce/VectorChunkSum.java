package io.mert.allreduce;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The sum of one chunk across ranks' areas with the JDK's (incubating) Vector API: Java 17's JIT does not vectorise
 * loads through {@code Unsafe} from mapped memory, and the scalar loop takes twice the time of the memory traffic.
 * Loaded only when the JVM resolved {@code jdk.incubator.vector} ({@link ShmAllReduce#VECTOR_SUM}).
 *
 * <p>Each lane adds in rank order, {@code ((x0 + x1) + x2) + ...}, as the scalar loop does, so the bits are the same.
 */
final class VectorChunkSum {

    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
    private static final int STEP_BYTES = SPECIES.vectorByteSize();
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    private VectorChunkSum() {
    }

    /**
     * out[i] = x0[i] + x1[i] + ... for {@code count} floats, where rank p's floats start at byte {@code inAt} of
     * {@code areas[p]} and the sums go to byte {@code outAt} of {@code out} (which may be one of the inputs at the same
     * place: every input of a lane is loaded before the lane's sum is stored).
     */
    static void sum(ByteBuffer[] areas, int ranks, int inAt, ByteBuffer out, int outAt, int count) {
        int bytes = count * Float.BYTES, i = 0;
        if (ranks == 4) { // the common case, unrolled
            ByteBuffer a = areas[0], b = areas[1], c = areas[2], d = areas[3];
            for (; i + STEP_BYTES <= bytes; i += STEP_BYTES) {
                int at = inAt + i;
                FloatVector.fromByteBuffer(SPECIES, a, at, ORDER).add(FloatVector.fromByteBuffer(SPECIES, b, at, ORDER))
                        .add(FloatVector.fromByteBuffer(SPECIES, c, at, ORDER)).add(FloatVector.fromByteBuffer(SPECIES, d, at, ORDER))
                        .intoByteBuffer(out, outAt + i, ORDER);
            }
        } else {
            for (; i + STEP_BYTES <= bytes; i += STEP_BYTES) {
                int at = inAt + i;
                FloatVector v = FloatVector.fromByteBuffer(SPECIES, areas[0], at, ORDER);
                for (int p = 1; p < ranks; p++) v = v.add(FloatVector.fromByteBuffer(SPECIES, areas[p], at, ORDER));
                v.intoByteBuffer(out, outAt + i, ORDER);
            }
        }
        for (; i < bytes; i += Float.BYTES) {
            int at = inAt + i;
            float s = areas[0].getFloat(at);
            for (int p = 1; p < ranks; p++) s += areas[p].getFloat(at);
            out.putFloat(outAt + i, s);
        }
    }
}
