package io.mert.cli.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mert.model.MertConfig;

import java.io.IOException;
import java.nio.file.Path;

/**
 * What both sides of {@code mert bench step} run: one preset at one batch and crop, on a fixed number
 * of threads, for about {@code seconds} after {@code warmup} untimed steps. Written to {@code spec.json}
 * with the architecture spelled out, so the PyTorch peer builds the same model without knowing our presets.
 */
public record StepBenchSpec(String preset, int batch, int cropSamples, int threads, double seconds, int warmup,
                            int minSteps, int maxSteps, double lr, boolean profile) {

    private static final ObjectMapper JSON = new ObjectMapper();

    public StepBenchSpec {
        if (batch < 1) throw new IllegalArgumentException("--batch must be >= 1, got " + batch);
        if (threads < 1) throw new IllegalArgumentException("--threads must be >= 1, got " + threads);
        if (!(seconds > 0)) throw new IllegalArgumentException("--seconds must be > 0, got " + seconds);
        if (warmup < 1) throw new IllegalArgumentException("--warmup must be >= 1, got " + warmup);
        if (minSteps < 1 || maxSteps < minSteps) {
            throw new IllegalArgumentException("need 1 <= min steps <= max steps, got " + minSteps + ", " + maxSteps);
        }
        int frames = config(preset).framesFor(cropSamples);
        if (frames < 10) {
            throw new IllegalArgumentException("--crop " + cropSamples + " gives " + frames
                    + " frames; the benchmark needs at least 10 (frame stride 320 samples)");
        }
    }

    public static MertConfig config(String preset) {
        return MertConfig.preset(preset);
    }

    public MertConfig config() {
        return config(preset);
    }

    public void write(Path file) throws IOException {
        MertConfig c = config();
        ObjectNode o = JSON.createObjectNode();
        o.put("preset", preset).put("batch", batch).put("crop_samples", cropSamples).put("threads", threads)
                .put("seconds", seconds).put("warmup", warmup).put("min_steps", minSteps).put("max_steps", maxSteps)
                .put("lr", lr).put("profile", profile);
        ArrayNode conv = o.putArray("conv_layers");
        for (MertConfig.ConvLayer l : c.convFeatureLayers()) conv.addArray().add(l.channels()).add(l.kernel()).add(l.stride());
        o.put("extractor_mode", c.extractorMode()).put("encoder_layers", c.encoderLayers())
                .put("encoder_embed_dim", c.encoderEmbedDim()).put("encoder_ffn_embed_dim", c.encoderFfnEmbedDim())
                .put("encoder_attention_heads", c.encoderAttentionHeads()).put("layer_norm_first", c.layerNormFirst())
                .put("conv_pos", c.convPos()).put("conv_pos_groups", c.convPosGroups()).put("final_dim", c.finalDim())
                .put("logit_temp", c.logitTemp()).put("feature_grad_mult", c.featureGradMult())
                .put("dropout", c.dropout()).put("attention_dropout", c.attentionDropout())
                .put("activation_dropout", c.activationDropout()).put("dropout_input", c.dropoutInput())
                .put("encoder_layerdrop", c.encoderLayerdrop())
                .put("cqt_bins", c.cqtBins());
        ArrayNode classes = o.putArray("label_classes");
        c.labelClasses().forEach(classes::add);
        ArrayNode weights = o.putArray("loss_weights");
        c.lossWeights().forEach(weights::add);
        io.mert.model.checkpoint.AtomicFiles.writeString(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(o));
    }

    public static StepBenchSpec read(Path file) throws IOException {
        ObjectNode o = (ObjectNode) JSON.readTree(file.toFile());
        return new StepBenchSpec(o.get("preset").asText(), o.get("batch").asInt(), o.get("crop_samples").asInt(),
                o.get("threads").asInt(), o.get("seconds").asDouble(), o.get("warmup").asInt(),
                o.get("min_steps").asInt(), o.get("max_steps").asInt(), o.get("lr").asDouble(),
                o.path("profile").asBoolean(false));
    }
}
