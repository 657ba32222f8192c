package io.mert.model.hf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mert.model.MertConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * {@link MertConfig} to and from the {@code config.json} of MERT's HuggingFace model
 * ({@code MERTConfig} in MERT's {@code scripts/mert_hf/configuration_MERT.py}, a HuBERT config plus
 * {@code attention_relax}, {@code deepnorm} and {@code feature_extractor_cqt}), and the
 * {@code preprocessor_config.json} of its {@code Wav2Vec2FeatureExtractor}.
 *
 * <p>HF holds the encoder only. Reading a config therefore takes the architecture and the dropouts
 * from the JSON and the pre-training settings HF does not know (final_dim, logit_temp, masking,
 * feature_grad_mult, label streams, CQT bins, loss weights) from a base config. HF's
 * {@code mask_time_*} keys are SpecAugment settings for fine-tuning, not MERT's pre-training masking,
 * so they are written as MERT publishes them and ignored on reading.
 */
public final class HfConfig {

    public static final String MODEL_TYPE = "mert_model";
    /** Model types whose weights share HuBERT's names and meaning. */
    static final Set<String> ACCEPTED_MODEL_TYPES = Set.of("mert_model", "music_hubert", "hubert");
    static final double LAYER_NORM_EPS = 1e-5;

    private static final ObjectMapper JSON = new ObjectMapper();

    private HfConfig() {
    }

    /** The HF config of {@code c}'s encoder, keys as in MERT's published {@code mert_base.json}. */
    public static ObjectNode toJson(MertConfig c) {
        ObjectNode o = JSON.createObjectNode();
        o.put("model_type", MODEL_TYPE);
        o.putArray("architectures").add("MERTModel");
        // as the public m-a-p/MERT-v1-* repos have it: with MERT's configuration_MERT.py and modeling_MERT.py
        // copied next to this file, AutoModel.from_pretrained(DIR, trust_remote_code=True) loads the export
        o.putObject("auto_map").put("AutoConfig", "configuration_MERT.MERTConfig").put("AutoModel", "modeling_MERT.MERTModel");
        o.put("hidden_size", c.encoderEmbedDim());
        o.put("num_hidden_layers", c.encoderLayers());
        o.put("num_attention_heads", c.encoderAttentionHeads());
        o.put("intermediate_size", c.encoderFfnEmbedDim());
        o.put("hidden_act", "gelu");
        ArrayNode dim = o.putArray("conv_dim"), stride = o.putArray("conv_stride"), kernel = o.putArray("conv_kernel");
        for (MertConfig.ConvLayer l : c.convFeatureLayers()) {
            dim.add(l.channels());
            stride.add(l.stride());
            kernel.add(l.kernel());
        }
        o.put("num_feat_extract_layers", c.convFeatureLayers().size());
        o.put("conv_bias", false);
        o.put("feat_extract_norm", "layer_norm".equals(c.extractorMode()) ? "layer" : "group");
        o.put("feat_extract_activation", "gelu");
        o.put("feat_extract_dropout", 0.0);
        o.put("do_stable_layer_norm", c.layerNormFirst());
        o.put("num_conv_pos_embeddings", c.convPos());
        o.put("num_conv_pos_embedding_groups", c.convPosGroups());
        o.put("feat_proj_layer_norm", true);
        o.put("layer_norm_eps", LAYER_NORM_EPS);
        o.put("hidden_dropout", c.dropout());
        o.put("attention_dropout", c.attentionDropout());
        o.put("activation_dropout", c.activationDropout());
        o.put("feat_proj_dropout", c.dropoutInput());
        o.put("final_dropout", c.dropout());
        o.put("layerdrop", c.encoderLayerdrop());
        o.put("attention_relax", c.attentionRelax() > 0 ? c.attentionRelax() : -1.0);
        o.put("deepnorm", false);
        o.put("feature_extractor_cqt", false);
        o.put("feature_extractor_cqt_bins", c.cqtBins());
        o.put("sample_rate", c.sampleRate());
        // HF SpecAugment for fine-tuning, as MERT publishes it; mask_time_prob > 0 makes HF create masked_spec_embed.
        o.put("apply_spec_augment", true);
        o.put("mask_time_prob", 0.05);
        o.put("mask_time_length", 10);
        o.put("mask_time_min_masks", 2);
        o.put("mask_feature_prob", 0.0);
        o.put("mask_feature_length", 10);
        o.put("mask_feature_min_masks", 0);
        o.put("initializer_range", 0.02);
        o.put("use_weighted_layer_sum", false);
        o.put("classifier_proj_size", 256);
        o.put("ctc_loss_reduction", "sum");
        o.put("ctc_zero_infinity", false);
        o.put("vocab_size", 32);
        o.put("pad_token_id", 0);
        o.put("bos_token_id", 1);
        o.put("eos_token_id", 2);
        o.put("torch_dtype", "float32");
        return o;
    }

    /** MERT's published {@code preprocessor_config.json}: the feature extractor normalises each clip. */
    public static ObjectNode preprocessorJson(MertConfig c) {
        ObjectNode o = JSON.createObjectNode();
        o.put("feature_extractor_type", "Wav2Vec2FeatureExtractor");
        o.put("feature_size", 1);
        o.put("sampling_rate", c.sampleRate());
        o.put("padding_value", 0.0);
        o.put("padding_side", "right");
        o.put("do_normalize", true);
        o.put("return_attention_mask", true);
        return o;
    }

    /**
     * The MertConfig an HF config describes. Options this trainer cannot reproduce exactly are
     * refused with the key, its value and what is supported; {@code source} names the file.
     */
    public static MertConfig fromJson(JsonNode json, MertConfig base, String source) {
        Reader r = new Reader(json, source);
        String type = r.text("model_type", MODEL_TYPE);
        if (!ACCEPTED_MODEL_TYPES.contains(type)) {
            throw r.unsupported("model_type", type, "one of " + ACCEPTED_MODEL_TYPES.stream().sorted().toList());
        }
        r.require("conv_bias", r.bool("conv_bias", false), false);
        r.require("feat_extract_activation", r.text("feat_extract_activation", "gelu"), "gelu");
        r.require("hidden_act", r.text("hidden_act", "gelu"), "gelu");
        r.require("feat_proj_layer_norm", r.bool("feat_proj_layer_norm", true), true);
        r.require("deepnorm", r.bool("deepnorm", false), false);
        r.require("feature_extractor_cqt", r.bool("feature_extractor_cqt", false), false);
        double eps = r.number("layer_norm_eps", LAYER_NORM_EPS);
        if (Math.abs(eps - LAYER_NORM_EPS) > 1e-12) throw r.unsupported("layer_norm_eps", eps, "1e-05 (the value the network uses)");
        String norm = r.text("feat_extract_norm", "group");
        if (!norm.equals("group") && !norm.equals("layer")) throw r.unsupported("feat_extract_norm", norm, "group or layer");

        List<Integer> dims = r.ints("conv_dim", List.of(512, 512, 512, 512, 512, 512, 512));
        List<Integer> strides = r.ints("conv_stride", List.of(5, 2, 2, 2, 2, 2, 2));
        List<Integer> kernels = r.ints("conv_kernel", List.of(10, 3, 3, 3, 3, 2, 2));
        if (dims.size() != strides.size() || dims.size() != kernels.size() || dims.isEmpty()) {
            throw new IllegalArgumentException(source + ": conv_dim, conv_stride and conv_kernel must have the same non-zero length, got "
                    + dims.size() + ", " + strides.size() + ", " + kernels.size());
        }
        if (json.has("num_feat_extract_layers") && r.integer("num_feat_extract_layers", dims.size()) != dims.size()) {
            throw r.unsupported("num_feat_extract_layers", json.get("num_feat_extract_layers"), "len(conv_dim) = " + dims.size());
        }
        List<MertConfig.ConvLayer> convs = new ArrayList<>();
        for (int i = 0; i < dims.size(); i++) convs.add(new MertConfig.ConvLayer(dims.get(i), kernels.get(i), strides.get(i)));

        int hidden = r.integer("hidden_size", 768);
        int heads = r.integer("num_attention_heads", 12);
        int groups = r.integer("num_conv_pos_embedding_groups", 16);
        if (hidden % heads != 0) throw r.unsupported("num_attention_heads", heads, "a divisor of hidden_size " + hidden);
        if (hidden % groups != 0) throw r.unsupported("num_conv_pos_embedding_groups", groups, "a divisor of hidden_size " + hidden);
        int sampleRate = r.integer("sample_rate", base.sampleRate());
        int frameStride = 1;
        for (int s : strides) frameStride *= s;
        if (sampleRate != base.sampleRate() || sampleRate % frameStride != 0) {
            throw r.unsupported("sample_rate", sampleRate, base.sampleRate() + " Hz (the trainer's audio rate) with a frame rate of a whole "
                    + "number of Hz (conv strides multiply to " + frameStride + ")");
        }
        double relax = r.number("attention_relax", -1.0);
        return new MertConfig(convs, norm.equals("layer") ? "layer_norm" : "default",
                r.integer("num_hidden_layers", 12), hidden, r.integer("intermediate_size", 3072), heads,
                r.bool("do_stable_layer_norm", false), r.integer("num_conv_pos_embeddings", 128), groups,
                relax > 0 ? relax : 0.0,
                base.finalDim(), base.logitTemp(), base.maskProb(), base.maskLength(), base.featureGradMult(),
                r.probability("hidden_dropout", base.dropout()), r.probability("attention_dropout", base.attentionDropout()),
                r.probability("activation_dropout", base.activationDropout()), r.probability("feat_proj_dropout", base.dropoutInput()),
                base.dropoutFeatures(), r.probability("layerdrop", base.encoderLayerdrop()),
                base.labelClasses(), base.cqtBins(), base.lossWeights(), sampleRate, sampleRate / frameStride);
    }

    /** Typed reads of an HF config whose errors name the file, key and value. */
    private record Reader(JsonNode json, String source) {
        Reader {
            if (json == null || !json.isObject()) throw new IllegalArgumentException(source + ": not a JSON object");
        }

        IllegalArgumentException unsupported(String key, Object value, String allowed) {
            return new IllegalArgumentException(source + ": " + key + " = " + value + " is not supported; allowed: " + allowed);
        }

        void require(String key, Object value, Object allowed) {
            if (!value.equals(allowed)) throw unsupported(key, value, String.valueOf(allowed));
        }

        String text(String key, String dflt) {
            JsonNode n = json.get(key);
            if (n == null || n.isNull()) return dflt;
            if (!n.isTextual()) throw unsupported(key, n, "a string");
            return n.asText();
        }

        boolean bool(String key, boolean dflt) {
            JsonNode n = json.get(key);
            if (n == null || n.isNull()) return dflt;
            if (!n.isBoolean()) throw unsupported(key, n, "true or false");
            return n.booleanValue();
        }

        int integer(String key, int dflt) {
            JsonNode n = json.get(key);
            if (n == null || n.isNull()) return dflt;
            if (!n.isIntegralNumber() || !n.canConvertToInt() || n.intValue() <= 0) throw unsupported(key, n, "a positive integer");
            return n.intValue();
        }

        double number(String key, double dflt) {
            JsonNode n = json.get(key);
            if (n == null || n.isNull()) return dflt;
            if (!n.isNumber()) throw unsupported(key, n, "a number");
            return n.doubleValue();
        }

        double probability(String key, double dflt) {
            double v = number(key, dflt);
            if (!(v >= 0 && v <= 1)) throw unsupported(key, v, "a probability in [0, 1]");
            return v;
        }

        List<Integer> ints(String key, List<Integer> dflt) {
            JsonNode n = json.get(key);
            if (n == null || n.isNull()) return dflt;
            if (!n.isArray()) throw unsupported(key, n, "a list of positive integers");
            List<Integer> out = new ArrayList<>();
            for (JsonNode e : n) {
                if (!e.isIntegralNumber() || !e.canConvertToInt() || e.intValue() <= 0) throw unsupported(key, n, "a list of positive integers");
                out.add(e.intValue());
            }
            return out;
        }
    }
}
