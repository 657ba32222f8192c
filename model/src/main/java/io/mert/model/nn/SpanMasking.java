package io.mert.model.nn;

import java.util.SplittableRandom;

/**
 * HuBERT/fairseq span masking ({@code compute_mask_indices} with mask_selection "static",
 * min_masks 2, no_overlap false, no padding): draw {@code int(maskProb * frames / maskLength + u)}
 * (at least 2) distinct span starts uniformly from {@code [0, frames - maskLength)} and mask
 * {@code maskLength} frames from each; spans may overlap, so the masked fraction is below maskProb.
 */
public final class SpanMasking {

    private static final int MIN_MASKS = 2;

    private SpanMasking() {
    }

    /** Mask for one clip: 1 where the frame is masked. Same arguments, same mask. */
    public static byte[] compute(int frames, double maskProb, int maskLength, long seed) {
        return spans(frames, maskProb, maskLength, new SplittableRandom(seed));
    }

    /**
     * Masks for a batch of equal-length clips, {@code [batch*frames]} row-major. As fairseq does for a
     * batch, every clip ends up with the same number of masked frames: clips above the minimum count
     * are thinned to it by unmasking randomly chosen masked frames.
     */
    public static byte[] computeBatch(int batch, int frames, double maskProb, int maskLength, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        byte[][] rows = new byte[batch][];
        int minCount = Integer.MAX_VALUE;
        for (int b = 0; b < batch; b++) {
            rows[b] = spans(frames, maskProb, maskLength, rng);
            minCount = Math.min(minCount, count(rows[b]));
        }
        byte[] out = new byte[batch * frames];
        for (int b = 0; b < batch; b++) {
            thin(rows[b], minCount, rng);
            System.arraycopy(rows[b], 0, out, b * frames, frames);
        }
        return out;
    }

    private static byte[] spans(int frames, double maskProb, int maskLength, SplittableRandom rng) {
        if (frames <= 0) throw new IllegalArgumentException("frames " + frames + " must be > 0");
        if (maskLength <= 0) throw new IllegalArgumentException("mask_length " + maskLength + " must be > 0");
        if (maskProb < 0 || maskProb > 1) throw new IllegalArgumentException("mask_prob " + maskProb + " must be in [0,1]");
        byte[] mask = new byte[frames];
        int numMask = Math.max(MIN_MASKS, (int) (maskProb * frames / maskLength + rng.nextDouble()));
        int minLen = maskLength;
        if (frames - minLen <= numMask) minLen = frames - numMask - 1;
        int choices = frames - minLen;
        if (choices < numMask || choices <= 0) {
            throw new IllegalArgumentException("cannot place " + numMask + " spans of length " + maskLength
                    + " in " + frames + " frames: use a longer crop or a shorter mask_length");
        }
        int[] pool = new int[choices];
        for (int i = 0; i < choices; i++) pool[i] = i;
        for (int j = 0; j < numMask; j++) { // partial Fisher-Yates: numMask distinct starts
            int r = j + rng.nextInt(choices - j);
            int start = pool[r];
            pool[r] = pool[j];
            pool[j] = start;
            for (int o = 0; o < maskLength && start + o < frames; o++) mask[start + o] = 1;
        }
        return mask;
    }

    private static int count(byte[] mask) {
        int n = 0;
        for (byte m : mask) n += m;
        return n;
    }

    private static void thin(byte[] mask, int keep, SplittableRandom rng) {
        int n = count(mask);
        int[] idx = new int[n];
        int k = 0;
        for (int i = 0; i < mask.length; i++) if (mask[i] != 0) idx[k++] = i;
        for (int j = 0; j < n - keep; j++) { // unmask n-keep distinct random masked frames
            int r = j + rng.nextInt(n - j);
            int t = idx[r];
            idx[r] = idx[j];
            idx[j] = t;
            mask[t] = 0;
        }
    }
}
