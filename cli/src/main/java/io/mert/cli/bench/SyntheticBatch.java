package io.mert.cli.bench;

import io.mert.model.Batch;
import io.mert.model.MertConfig;
import io.mert.model.checkpoint.Npy;
import io.mert.model.nn.SpanMasking;

import java.io.IOException;
import java.nio.file.Path;
import java.util.SplittableRandom;

/** A seeded batch of tones plus noise, random labels and CQT targets, and MERT's span masks. */
final class SyntheticBatch {

    private SyntheticBatch() {
    }

    static Batch make(MertConfig c, int clips, int samples, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int frames = c.framesFor(samples);
        float[] wave = new float[clips * samples];
        for (int i = 0; i < wave.length; i++) {
            int t = i % samples;
            wave[i] = (float) (0.3 * Math.sin(2 * Math.PI * (220 + 55 * (i / samples)) * t / c.sampleRate())
                    + 0.05 * (r.nextDouble() * 2 - 1));
        }
        int[][] labels = new int[c.labelClasses().size()][clips * frames];
        for (int s = 0; s < labels.length; s++) {
            for (int i = 0; i < labels[s].length; i++) labels[s][i] = r.nextInt(c.labelClasses().get(s));
        }
        float[] cqt = new float[clips * frames * c.cqtBins()];
        for (int i = 0; i < cqt.length; i++) cqt[i] = (float) r.nextDouble();
        byte[] mask = SpanMasking.computeBatch(clips, frames, c.maskProb(), c.maskLength(), seed + 1);
        return new Batch(clips, samples, frames, wave, labels, cqt, mask);
    }

    /** The batch as the PyTorch peer reads it: wave, mask, labels and cqt as float32 .npy files. */
    static void writeNpy(Batch b, Path dir) throws IOException {
        Npy.write(dir.resolve("wave.npy"), new long[]{b.size(), b.samples()}, b.waveforms());
        float[] mask = new float[b.mask().length];
        for (int i = 0; i < mask.length; i++) mask[i] = b.mask()[i];
        Npy.write(dir.resolve("mask.npy"), new long[]{b.size(), b.frames()}, mask);
        int streams = b.labels().length;
        float[] labels = new float[streams * b.size() * b.frames()];
        for (int s = 0; s < streams; s++) {
            for (int i = 0; i < b.labels()[s].length; i++) labels[s * b.labels()[s].length + i] = b.labels()[s][i];
        }
        Npy.write(dir.resolve("labels.npy"), new long[]{streams, b.size(), b.frames()}, labels);
        Npy.write(dir.resolve("cqt.npy"), new long[]{b.size(), b.frames(), b.cqt().length / (b.size() * b.frames())},
                b.cqt());
    }
}
