package io.mert.model.nn;

import io.mert.model.MertConfig;
import io.mert.model.ParameterLayout;

import java.util.List;

/**
 * The parameter layout of a MERT model: HuggingFace MERT key names and shapes (Linear weight
 * {@code [out,in]}, Conv1d weight {@code [out,in/groups,k]}), followed by the pre-training heads under
 * the names MERT's fairseq model uses ({@code final_proj}, {@code label_embs_concat},
 * {@code encoder_cqt_model.fc}).
 */
public final class MertLayout {

    public static final String POS_CONV = "encoder.pos_conv_embed.conv.";
    public static final String FINAL_PROJ = "final_proj.";
    public static final String LABEL_EMBS = "label_embs_concat";
    public static final String CQT_HEAD = "encoder_cqt_model.fc.";
    public static final String MASK_EMBED = "masked_spec_embed";

    private MertLayout() {
    }

    public static ParameterLayout of(MertConfig c) {
        validate(c);
        ParameterLayout.Builder b = ParameterLayout.builder();
        List<MertConfig.ConvLayer> convs = c.convFeatureLayers();
        int in = 1;
        boolean layerNormMode = isLayerNormMode(c);
        for (int i = 0; i < convs.size(); i++) {
            MertConfig.ConvLayer l = convs.get(i);
            String p = "feature_extractor.conv_layers." + i + ".";
            b.add(p + "conv.weight", l.channels(), in, l.kernel());
            if (layerNormMode || i == 0) {
                // HF names the first-layer group norm "layer_norm" too.
                b.add(p + "layer_norm.weight", l.channels());
                b.add(p + "layer_norm.bias", l.channels());
            }
            in = l.channels();
        }
        int e = c.encoderEmbedDim();
        b.add("feature_projection.layer_norm.weight", in);
        b.add("feature_projection.layer_norm.bias", in);
        b.add("feature_projection.projection.weight", e, in);
        b.add("feature_projection.projection.bias", e);
        b.add(MASK_EMBED, e);
        b.add(POS_CONV + "weight_g", 1, 1, c.convPos());
        b.add(POS_CONV + "weight_v", e, e / c.convPosGroups(), c.convPos());
        b.add(POS_CONV + "bias", e);
        b.add("encoder.layer_norm.weight", e);
        b.add("encoder.layer_norm.bias", e);
        for (int i = 0; i < c.encoderLayers(); i++) {
            String p = "encoder.layers." + i + ".";
            for (String proj : new String[] {"q_proj", "k_proj", "v_proj", "out_proj"}) {
                b.add(p + "attention." + proj + ".weight", e, e);
                b.add(p + "attention." + proj + ".bias", e);
            }
            b.add(p + "layer_norm.weight", e);
            b.add(p + "layer_norm.bias", e);
            b.add(p + "feed_forward.intermediate_dense.weight", c.encoderFfnEmbedDim(), e);
            b.add(p + "feed_forward.intermediate_dense.bias", c.encoderFfnEmbedDim());
            b.add(p + "feed_forward.output_dense.weight", e, c.encoderFfnEmbedDim());
            b.add(p + "feed_forward.output_dense.bias", e);
            b.add(p + "final_layer_norm.weight", e);
            b.add(p + "final_layer_norm.bias", e);
        }
        int streams = c.labelClasses().size();
        b.add(FINAL_PROJ + "weight", (long) c.finalDim() * streams, e);
        b.add(FINAL_PROJ + "bias", (long) c.finalDim() * streams);
        b.add(LABEL_EMBS, totalClasses(c), c.finalDim());
        b.add(CQT_HEAD + "weight", c.cqtBins(), e);
        b.add(CQT_HEAD + "bias", c.cqtBins());
        return b.build();
    }

    static boolean isLayerNormMode(MertConfig c) {
        return "layer_norm".equals(c.extractorMode());
    }

    static long totalClasses(MertConfig c) {
        long n = 0;
        for (int k : c.labelClasses()) n += k;
        return n;
    }

    /** Rejects configurations the network cannot build, naming the offending key. */
    static void validate(MertConfig c) {
        if (!"default".equals(c.extractorMode()) && !"layer_norm".equals(c.extractorMode()))
            throw new IllegalArgumentException("extractor_mode '" + c.extractorMode() + "': allowed are default, layer_norm");
        if (c.encoderEmbedDim() % c.encoderAttentionHeads() != 0)
            throw new IllegalArgumentException("encoder_embed_dim " + c.encoderEmbedDim()
                    + " must be divisible by encoder_attention_heads " + c.encoderAttentionHeads());
        if (c.encoderEmbedDim() % c.convPosGroups() != 0)
            throw new IllegalArgumentException("encoder_embed_dim " + c.encoderEmbedDim()
                    + " must be divisible by conv_pos_groups " + c.convPosGroups());
        if (c.labelClasses().isEmpty())
            throw new IllegalArgumentException("label classes: at least one label stream is required");
        if (c.lossWeights().size() < 2)
            throw new IllegalArgumentException("loss_weights " + c.lossWeights()
                    + ": need two weights (feature penalty, CQT MSE)");
        if (c.finalDim() <= 0) throw new IllegalArgumentException("final_dim " + c.finalDim() + " must be > 0");
        if (c.logitTemp() <= 0) throw new IllegalArgumentException("logit_temp " + c.logitTemp() + " must be > 0");
    }
}
