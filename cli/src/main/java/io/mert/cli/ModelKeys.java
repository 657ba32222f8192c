package io.mert.cli;

import io.mert.model.MertConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/** A MertConfig as the training config's {@code model.*} keys, so a run directory reproduces it. */
final class ModelKeys {

    private ModelKeys() {
    }

    static List<String> overrides(MertConfig c) {
        List<String> o = new ArrayList<>();
        o.add("model.conv_feature_layers='" + c.convFeatureLayers().stream()
                .map(l -> "[(" + l.channels() + "," + l.kernel() + "," + l.stride() + ")]").collect(Collectors.joining(" + ")) + "'");
        o.add("model.extractor_mode=" + c.extractorMode());
        o.add("model.encoder_layers=" + c.encoderLayers());
        o.add("model.encoder_embed_dim=" + c.encoderEmbedDim());
        o.add("model.encoder_ffn_embed_dim=" + c.encoderFfnEmbedDim());
        o.add("model.encoder_attention_heads=" + c.encoderAttentionHeads());
        o.add("model.layer_norm_first=" + c.layerNormFirst());
        o.add("model.conv_pos=" + c.convPos());
        o.add("model.conv_pos_groups=" + c.convPosGroups());
        o.add("model.attention_relax=" + c.attentionRelax());
        o.add("model.final_dim=" + c.finalDim());
        o.add("model.logit_temp=" + c.logitTemp());
        o.add("model.mask_prob=" + c.maskProb());
        o.add("model.mask_length=" + c.maskLength());
        o.add("model.feature_grad_mult=" + c.featureGradMult());
        o.add("model.dropout=" + c.dropout());
        o.add("model.attention_dropout=" + c.attentionDropout());
        o.add("model.activation_dropout=" + c.activationDropout());
        o.add("model.dropout_input=" + c.dropoutInput());
        o.add("model.dropout_features=" + c.dropoutFeatures());
        o.add("model.encoder_layerdrop=" + c.encoderLayerdrop());
        o.add("model.audio_cqt_bins=" + c.cqtBins());
        o.add("criterion.loss_weights=" + c.lossWeights());
        o.add("task.sample_rate=" + c.sampleRate());
        o.add("task.label_rate=" + c.labelRate());
        return o;
    }
}
