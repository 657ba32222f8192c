package io.mert.model.optim;

import java.util.zip.CRC32C;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * CRC32C of the exact bits of a flat float buffer, read straight from off-heap memory. Workers that
 * hold bit-identical parameters report equal checksums; any difference (including -0.0 vs 0.0 or
 * different NaN payloads) shows. CRC32C runs on a CPU instruction, several GB/s.
 */
public final class ParameterChecksum {

    private ParameterChecksum() {}

    /** Checksum of all floats of {@code array} (a contiguous FLOAT buffer), as an unsigned 32-bit value. */
    public static long of(INDArray array) {
        INDArray flat = FlatArrays.requireFlatFloat(array, "array");
        return of(flat, 0, flat.length());
    }

    /** Checksum of floats {@code [fromFloat, fromFloat + count)} of a flat buffer. */
    public static long of(INDArray flat, long fromFloat, long count) {
        INDArray f = FlatArrays.requireFlatFloat(flat, "array");
        CRC32C crc = new CRC32C();
        FlatArrays.forEachByteChunk(f, fromFloat, count, crc::update);
        return crc.getValue();
    }

    /** Eight hex digits, the form to put in logs and StepDone messages. */
    public static String hex(long checksum) {
        return String.format("%08x", checksum);
    }
}
