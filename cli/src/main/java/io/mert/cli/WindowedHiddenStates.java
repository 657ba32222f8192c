package io.mert.cli;

import io.mert.model.MertConfig;
import io.mert.model.nn.MertNetwork;

import java.io.IOException;
import java.util.Arrays;

/**
 * Hidden states of long audio, a window of frames at a time, so memory stays bounded by the window.
 * Windows are cut on the conv extractor's frame grid: a window of {@code n} frames starting at frame
 * {@code f} is the samples {@code [f * stride, f * stride + (n - 1) * stride + receptive field)}, so its
 * frames are exactly frames {@code f..f+n-1} of the whole file; the last window is moved back to end at the
 * last frame, so every window has the same length and one inference graph serves them all. Attention sees
 * only its window (as when MERT users chunk long audio by hand).
 */
final class WindowedHiddenStates {

    /** Receives frames {@code [from, to)} of the file, held in {@code states[layer][frame - windowStart][dim]}. */
    interface Sink {
        void accept(float[][][] states, int windowStart, int from, int to) throws IOException;
    }

    private WindowedHiddenStates() {
    }

    /** Samples that give exactly {@code frames} frames: (frames - 1) * stride + receptive field. */
    static int samplesFor(MertConfig c, int frames) {
        int receptive = 1;
        java.util.List<MertConfig.ConvLayer> layers = c.convFeatureLayers();
        for (int i = layers.size() - 1; i >= 0; i--) receptive = (receptive - 1) * layers.get(i).stride() + layers.get(i).kernel();
        return (frames - 1) * c.frameStride() + receptive;
    }

    /** @return the file's frame count */
    static int run(MertNetwork net, float[] wave, int windowFrames, Sink sink) throws IOException {
        MertConfig c = net.config();
        int total = c.framesFor(wave.length);
        if (total < 1) throw new IllegalArgumentException(wave.length + " samples give no frame");
        if (total <= windowFrames) {
            sink.accept(net.hiddenStates(wave), 0, 0, total);
            return total;
        }
        int windowSamples = samplesFor(c, windowFrames);
        for (int next = 0; next < total; ) {
            int start = Math.min(next, total - windowFrames);
            int offset = start * c.frameStride();
            float[][][] states = net.hiddenStates(Arrays.copyOfRange(wave, offset, offset + windowSamples));
            sink.accept(states, start, next, start + windowFrames);
            next = start + windowFrames;
        }
        return total;
    }
}
