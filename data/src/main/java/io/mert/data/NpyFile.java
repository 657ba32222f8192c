package io.mert.data;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** Writes float32 arrays in NumPy's .npy format (version 1.0, C order), readable by {@code numpy.load}. */
public final class NpyFile {
    private NpyFile() {}

    public static void writeFloat32(Path file, int[] shape, float[] data) throws IOException {
        long count = 1;
        for (int s : shape) count *= s;
        if (count != data.length)
            throw new IllegalArgumentException("shape " + java.util.Arrays.toString(shape) + " does not hold " + data.length + " values");
        StringBuilder sh = new StringBuilder("(");
        for (int s : shape) sh.append(s).append(", ");
        if (shape.length > 1) sh.setLength(sh.length() - 2);
        else if (shape.length == 1) sh.setLength(sh.length() - 1);
        sh.append(')');
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': " + sh + ", }";
        int unpadded = 10 + dict.length() + 1;
        int pad = (64 - unpadded % 64) % 64;
        String header = dict + " ".repeat(pad) + "\n";
        ByteBuffer b = ByteBuffer.allocate(10 + header.length() + 4 * data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0);
        b.putShort((short) header.length()).put(header.getBytes(StandardCharsets.US_ASCII));
        for (float v : data) b.putFloat(v);
        AtomicFiles.write(file, out -> out.write(b.array()));
    }
}
