package io.mert.cli;

import io.mert.model.checkpoint.AtomicFiles;
import io.mert.model.checkpoint.Npy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes {@code [layers, frames, dim]} float32 .npy window by window (positional writes into the layer-major
 * layout), or {@code [layers, dim]} means over time; the file appears complete or not at all.
 */
final class HiddenStateFile {

    private HiddenStateFile() {
    }

    /** Runs the windows straight into {@code out}; returns the shape written. */
    static long[] write(Path out, int layers, int frames, int dim, boolean meanOverTime, Windows windows) throws IOException {
        if (out.toAbsolutePath().getParent() != null) Files.createDirectories(out.toAbsolutePath().getParent());
        if (meanOverTime) {
            double[][] sums = new double[layers][dim];
            windows.run((states, windowStart, from, to) -> {
                for (int l = 0; l < layers; l++) {
                    for (int f = from; f < to; f++) {
                        float[] row = states[l][f - windowStart];
                        for (int d = 0; d < dim; d++) sums[l][d] += row[d];
                    }
                }
            });
            float[] mean = new float[layers * dim];
            for (int l = 0; l < layers; l++) for (int d = 0; d < dim; d++) mean[l * dim + d] = (float) (sums[l][d] / frames);
            long[] shape = {layers, dim};
            Npy.write(out, shape, mean);
            return shape;
        }
        long[] shape = {layers, frames, dim};
        ByteBuffer header = Npy.header(shape);
        long dataStart = header.remaining();
        AtomicFiles.write(out, ch -> {
            AtomicFiles.writeFully(ch, header);
            ByteBuffer row = ByteBuffer.allocate(dim * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
            windows.run((states, windowStart, from, to) -> {
                for (int l = 0; l < layers; l++) {
                    for (int f = from; f < to; f++) {
                        row.clear();
                        row.asFloatBuffer().put(states[l][f - windowStart]);
                        writeAt(ch, row, dataStart + ((long) l * frames + f) * dim * Float.BYTES);
                    }
                }
            });
        });
        return shape;
    }

    /** The windowed pass, run by the writer with its own sink. */
    interface Windows {
        void run(WindowedHiddenStates.Sink sink) throws IOException;
    }

    private static void writeAt(FileChannel ch, ByteBuffer b, long position) throws IOException {
        b.limit(b.capacity()).position(0);
        while (b.hasRemaining()) position += ch.write(b, position);
    }
}
