package io.mert.model.optim;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import static org.junit.jupiter.api.Assertions.*;

class FlatArraysTest {

    @Test
    void anArrayOverForeignMemoryReadsAndWritesThatMemoryWithoutCopying() {
        // memory owned by someone else (a shared-memory mapping in training; another array here)
        INDArray owner = Nd4j.arange(1000).castTo(DataType.FLOAT);
        long address = owner.data().addressPointer().address();
        INDArray a = FlatArrays.floatsAt(address, 1000);
        assertEquals(DataType.FLOAT, a.dataType());
        assertEquals(999.0, a.getDouble(999));
        assertEquals(999 * 1000 / 2.0, a.sumNumber().doubleValue());

        INDArray view = a.get(NDArrayIndex.interval(10, 20));
        view.assign(Nd4j.ones(DataType.FLOAT, 10).muli(-2)); // as a gradient lands in its slice of the flat buffer
        a.divi(2);
        for (int i = 0; i < 1000; i++) {
            assertEquals(i >= 10 && i < 20 ? -1f : i / 2f, owner.getFloat(i), "float " + i);
        }
        assertEquals(address, a.data().addressPointer().address(), "the same memory, not a copy");
        assertThrows(IllegalArgumentException.class, () -> FlatArrays.floatsAt(0, 10));
    }
}
