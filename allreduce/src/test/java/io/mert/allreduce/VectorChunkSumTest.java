package io.mert.allreduce;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class VectorChunkSumTest {

    @Test
    void theTestJvmSumsWithVectors() {
        // surefire's argLine adds the module: without it the vector path would go untested here
        assertTrue(ShmAllReduce.VECTOR_SUM, "run the tests with --add-modules jdk.incubator.vector");
    }

    @Test
    void lanesHoldTheBitsOfTheScalarSumInRankOrder() {
        Random rnd = new Random(11);
        for (int ranks = 1; ranks <= 8; ranks++) {
            for (int count : new int[] {0, 1, 7, 15, 16, 17, 31, 33, 1000, 4099}) {
                int inAt = 4 * rnd.nextInt(5), outAt = 4 * rnd.nextInt(5); // not vector-aligned
                ByteBuffer[] areas = new ByteBuffer[ranks];
                for (int p = 0; p < ranks; p++) {
                    areas[p] = ByteBuffer.allocateDirect(inAt + 4 * count).order(ByteOrder.nativeOrder());
                    // magnitudes far apart, so another order of the additions would round differently
                    for (int i = 0; i < count; i++) areas[p].putFloat(inAt + 4 * i, (float) (rnd.nextGaussian() * Math.pow(10, rnd.nextInt(9) - 4)));
                }
                ByteBuffer out = ByteBuffer.allocateDirect(outAt + 4 * count).order(ByteOrder.nativeOrder());
                VectorChunkSum.sum(areas, ranks, inAt, out, outAt, count);
                for (int i = 0; i < count; i++) {
                    float expected = areas[0].getFloat(inAt + 4 * i);
                    for (int p = 1; p < ranks; p++) expected += areas[p].getFloat(inAt + 4 * i);
                    assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(out.getFloat(outAt + 4 * i)),
                            ranks + " ranks, " + count + " floats, element " + i);
                }
                if (count > 0) { // in place: the sum over the first rank's own input
                    float[] expected = new float[count];
                    for (int i = 0; i < count; i++) expected[i] = out.getFloat(outAt + 4 * i);
                    VectorChunkSum.sum(areas, ranks, inAt, areas[0], inAt, count);
                    for (int i = 0; i < count; i++) {
                        assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(areas[0].getFloat(inAt + 4 * i)),
                                "in place, " + ranks + " ranks, element " + i);
                    }
                }
            }
        }
    }
}
