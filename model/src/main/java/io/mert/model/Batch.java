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
 * @param featurePenaltyScale what the feature penalty (a mean over this batch) is multiplied by in the loss.
 *                  fairseq multiplies by the batch's supervised frames; a worker holding B_r of a global batch
 *                  of B clips with N supervised frames in all passes (B_r / B) * N, so that the summed loss of
 *                  all workers equals the loss of the whole batch on one worker, whatever the world size
 */
public record Batch(int size, int samples, int frames, float[] waveforms, int[][] labels, float[] cqt, byte[] mask,
                    double featurePenaltyScale) {

    /** A batch that is the whole global batch: the feature penalty is scaled by its own supervised frames. */
    public Batch(int size, int samples, int frames, float[] waveforms, int[][] labels, float[] cqt, byte[] mask) {
        this(size, samples, frames, waveforms, labels, cqt, mask, countMasked(mask));
    }

    private static int countMasked(byte[] mask) {
        int n = 0;
        for (byte m : mask) n += m;
        return n;
    }

    public Batch {
        if (waveforms.length != size * samples) throw new IllegalArgumentException("waveforms length");
        if (mask.length != size * frames) throw new IllegalArgumentException("mask length");
        for (int[] l : labels) if (l.length != size * frames) throw new IllegalArgumentException("labels length");
    }

    /** Frames that carry a training signal: the masked ones. */
    public int maskedFrames() {
        return countMasked(mask);
    }
}
