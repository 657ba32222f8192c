package io.mert.model;

/**
 * One worker's share of a training step, laid out row-major in plain arrays so it can be filled
 * without ND4J and copied into the network's placeholders in one go.
 *
 * @param size      number of clips B
 * @param samples   samples per clip T (all clips cropped to the same length)
 * @param frames    frames per clip F = config.framesFor(T)
 * @param waveforms [B*T] raw 24 kHz waveform, unnormalised
 * @param labels    [streams][B*F] class index per frame for each label stream
 * @param cqt       [B*F*bins] CQT magnitude target per frame (the musical teacher)
 * @param mask      [B*F] 1 where the frame is masked (replaced by the mask embedding and supervised)
 */
public record Batch(int size, int samples, int frames, float[] waveforms, int[][] labels, float[] cqt, byte[] mask) {
    public Batch {
        if (waveforms.length != size * samples) throw new IllegalArgumentException("waveforms length");
        if (mask.length != size * frames) throw new IllegalArgumentException("mask length");
        for (int[] l : labels) if (l.length != size * frames) throw new IllegalArgumentException("labels length");
    }

    /** Frames that carry a training signal: the masked ones. */
    public int maskedFrames() {
        int n = 0;
        for (byte m : mask) n += m;
        return n;
    }
}
