package io.mert.model;

import java.util.List;

/**
 * Architecture of a MERT model. Field names follow fairseq's HuBERT/MERT config keys (camel-cased);
 * the YAML loader maps {@code encoder_embed_dim} to {@link #encoderEmbedDim()} and so on.
 *
 * @param convFeatureLayers   conv extractor layers as (channels, kernel, stride)
 * @param extractorMode       "default" (group norm on the first layer) or "layer_norm" (every layer)
 * @param labelClasses        number of classes of each label stream (one prediction head per stream)
 */
public record MertConfig(
        List<ConvLayer> convFeatureLayers,
        String extractorMode,
        int encoderLayers,
        int encoderEmbedDim,
        int encoderFfnEmbedDim,
        int encoderAttentionHeads,
        boolean layerNormFirst,
        int convPos,
        int convPosGroups,
        double attentionRelax,
        int finalDim,
        double logitTemp,
        double maskProb,
        int maskLength,
        double featureGradMult,
        double dropout,
        double attentionDropout,
        double activationDropout,
        double dropoutInput,
        double dropoutFeatures,
        double encoderLayerdrop,
        List<Integer> labelClasses,
        int cqtBins,
        List<Double> lossWeights,
        int sampleRate,
        int labelRate) {

    public record ConvLayer(int channels, int kernel, int stride) {}

    /** MERT's extractor: {@code [(512,10,5)] + [(512,3,2)]*4 + [(512,2,2)]*2}, stride 320. */
    public static List<ConvLayer> mertConvLayers(int channels) {
        return List.of(new ConvLayer(channels, 10, 5),
                new ConvLayer(channels, 3, 2), new ConvLayer(channels, 3, 2),
                new ConvLayer(channels, 3, 2), new ConvLayer(channels, 3, 2),
                new ConvLayer(channels, 2, 2), new ConvLayer(channels, 2, 2));
    }

    /** Samples per output frame of the conv extractor (product of strides). */
    public int frameStride() {
        int s = 1;
        for (ConvLayer l : convFeatureLayers) s *= l.stride();
        return s;
    }

    /** Number of frames the conv extractor produces for {@code samples} input samples. */
    public int framesFor(int samples) {
        long n = samples;
        for (ConvLayer l : convFeatureLayers) {
            if (n < l.kernel()) return 0; // shorter than the receptive field: no frame
            n = (n - l.kernel()) / l.stride() + 1;
        }
        return (int) n;
    }

    public int extractorChannels() {
        return convFeatureLayers.get(convFeatureLayers.size() - 1).channels();
    }

    public MertConfig withLabelClasses(List<Integer> classes) {
        return new MertConfig(convFeatureLayers, extractorMode, encoderLayers, encoderEmbedDim, encoderFfnEmbedDim,
                encoderAttentionHeads, layerNormFirst, convPos, convPosGroups, attentionRelax, finalDim, logitTemp,
                maskProb, maskLength, featureGradMult, dropout, attentionDropout, activationDropout, dropoutInput,
                dropoutFeatures, encoderLayerdrop, List.copyOf(classes), cqtBins, lossWeights, sampleRate, labelRate);
    }

    /** MERT-v1-95M: post-LN, 12 x 768, RVQ-VAE teacher with 8 codebooks of 1024. */
    public static MertConfig mert95M() {
        return new MertConfig(mertConvLayers(512), "default", 12, 768, 3072, 12, false, 128, 16, 0.0, 64, 0.1,
                0.8, 5, 0.1, 0.1, 0.1, 0.0, 0.1, 0.1, 0.05, List.of(1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024),
                336, List.of(10.0, 1.0), 24000, 75);
    }

    /**
     * MERT-v1-330M: pre-LN, 24 x 1024, attention_relax 32, no dropout. The extractor is the group-norm
     * one ({@code extractor_mode: default} in MERT_RVQ-VAE_CQT_330M.yaml, {@code feat_extract_norm: group}
     * in mert_large.json), matching the unnormalised waveform input.
     */
    public static MertConfig mert330M() {
        return new MertConfig(mertConvLayers(512), "default", 24, 1024, 4096, 16, true, 128, 16, 32.0, 128, 0.1,
                0.8, 5, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, List.of(1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024),
                336, List.of(10.0, 1.0), 24000, 75);
    }

    /** Same architecture as 95M with small widths, sized for a 2-core CPU; one k-means label stream. */
    public static MertConfig tiny() {
        return new MertConfig(mertConvLayers(32), "default", 2, 64, 128, 4, false, 16, 4, 0.0, 16, 0.1,
                0.8, 5, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, List.of(32), 336, List.of(10.0, 1.0), 24000, 75);
    }

    public static MertConfig preset(String name) {
        return switch (name) {
            case "tiny" -> tiny();
            case "MERT-95M", "95M" -> mert95M();
            case "MERT-330M", "330M" -> mert330M();
            default -> throw new IllegalArgumentException(
                    "unknown preset '" + name + "': choose one of tiny, MERT-95M, MERT-330M");
        };
    }
}
