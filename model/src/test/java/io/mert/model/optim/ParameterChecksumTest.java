package io.mert.model.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

class ParameterChecksumTest {

    private static float[] random(int n, long seed) {
        Random r = new Random(seed);
        float[] f = new float[n];
        for (int i = 0; i < n; i++) f[i] = (float) r.nextGaussian();
        return f;
    }

    /** CRC32C over the little-endian float bytes, built on the heap independently of ND4J. */
    private static long heapCrc(float[] f, int from, int to) {
        ByteBuffer b = ByteBuffer.allocate((to - from) * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = from; i < to; i++) b.putFloat(f[i]);
        CRC32C crc = new CRC32C();
        crc.update(b.array());
        return crc.getValue();
    }

    @Test
    void equalsCrc32cOfTheLittleEndianBytes() {
        float[] f = random(100_003, 1);
        assertEquals(heapCrc(f, 0, f.length), ParameterChecksum.of(Nd4j.createFromArray(f)));
    }

    @Test
    void viewAndRangeChecksumCoverExactlyTheirFloats() {
        float[] f = random(5000, 2);
        INDArray all = Nd4j.createFromArray(f);
        assertEquals(heapCrc(f, 1234, 4321), ParameterChecksum.of(all.get(NDArrayIndex.interval(1234, 4321))));
        assertEquals(heapCrc(f, 10, 20), ParameterChecksum.of(all, 10, 10));
        assertEquals(heapCrc(f, 0, 5000), ParameterChecksum.of(all.reshape(50, 100)));
    }

    @Test
    void detectsASingleBitAndSignedZero() {
        float[] f = random(4096, 3);
        long base = ParameterChecksum.of(Nd4j.createFromArray(f));
        float[] g = f.clone();
        g[2000] = Float.intBitsToFloat(Float.floatToRawIntBits(g[2000]) ^ 1);
        assertNotEquals(base, ParameterChecksum.of(Nd4j.createFromArray(g)));
        float[] z = new float[8];
        float[] nz = new float[8];
        nz[3] = -0.0f;
        assertNotEquals(ParameterChecksum.of(Nd4j.createFromArray(z)), ParameterChecksum.of(Nd4j.createFromArray(nz)));
        assertEquals("0000abcd", ParameterChecksum.hex(0xabcdL));
    }
}
