package io.mert.model.nn;

/**
 * What one forward pass measured on one worker's batch. Sums, not means, so workers' stats add up.
 *
 * @param loss             fairseq HuBERT loss: sum of the streams' CE sums + w0 * featurePenalty * batch.featurePenaltyScale() + w1 * cqtMse * n
 * @param crossEntropySum  per label stream, CE summed over the masked frames
 * @param correct          per label stream, masked frames whose argmax class is the label
 * @param featurePenalty   mean of the squared conv-extractor outputs
 * @param cqtMse           mean squared error of the CQT head over masked frames and bins
 * @param maskedFrames     n, the number of masked frames in the batch
 */
public record StepStats(double loss, double[] crossEntropySum, int[] correct, double featurePenalty, double cqtMse,
                        int maskedFrames) {}
