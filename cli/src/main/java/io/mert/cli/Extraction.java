package io.mert.cli;

import io.mert.model.checkpoint.Npy;
import io.mert.model.nn.MertNetwork;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Per-layer representations from a checkpoint, as MERT's inference demo gives them. */
final class Extraction {

    private Extraction() {
    }

    /** Builds the checkpoint's network and loads its parameters (checksums verified). */
    static MertNetwork load(Path checkpoint) throws IOException {
        CheckpointModel c = CheckpointModel.open(checkpoint);
        MertNetwork network = new MertNetwork(c.model(), c.trainConfig().maxSampleSize(), c.trainConfig().seed());
        c.checkpoint().readModel(network.layout(), network.parameters());
        return network;
    }

    /** Writes {@code [layers, time, dim]} float32 as .npy, or {@code [layers, dim]} when averaged over time. */
    static long[] writeNpy(Path out, float[][][] hidden, boolean meanOverTime) throws IOException {
        int layers = hidden.length, time = hidden[0].length, dim = hidden[0][0].length;
        if (out.toAbsolutePath().getParent() != null) Files.createDirectories(out.toAbsolutePath().getParent());
        if (meanOverTime) {
            float[] flat = new float[layers * dim];
            for (int l = 0; l < layers; l++) {
                for (int d = 0; d < dim; d++) {
                    double s = 0;
                    for (int t = 0; t < time; t++) s += hidden[l][t][d];
                    flat[l * dim + d] = (float) (s / time);
                }
            }
            long[] shape = {layers, dim};
            Npy.write(out, shape, flat);
            return shape;
        }
        float[] flat = new float[layers * time * dim];
        for (int l = 0; l < layers; l++) {
            for (int t = 0; t < time; t++) System.arraycopy(hidden[l][t], 0, flat, (l * time + t) * dim, dim);
        }
        long[] shape = {layers, time, dim};
        Npy.write(out, shape, flat);
        return shape;
    }
}
