package io.mert.model.nn;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.mert.model.Batch;
import io.mert.model.MertConfig;
import io.mert.model.checkpoint.FloatTensor;
import io.mert.model.checkpoint.SafeTensors;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One case written by {@code tools/reference/make_fixtures.py} under {@code reference/<name>/}: a
 * torchaudio-built model under HF names ({@code model.safetensors}), its inputs, and the float64
 * torch results (hidden states, gradients, loss terms).
 */
final class TorchFixture {

    final String name;
    final Path modelFile;
    final MertConfig config;
    final int clips;
    final int samples;
    final int frames;
    final Batch batch;
    final JsonNode expected;
    final List<String> gradientNames = new ArrayList<>();
    final Map<String, FloatTensor> expectedTensors;

    private TorchFixture(String name) throws IOException {
        this.name = name;
        Path dir = resourceDir(name);
        JsonNode root = new ObjectMapper().readTree(dir.resolve("case.json").toFile());
        this.config = config(root.get("config"));
        this.clips = root.get("clips").asInt();
        this.samples = root.get("samples").asInt();
        this.frames = root.get("frames").asInt();
        this.expected = root.get("expected");
        root.get("gradients").forEach(n -> gradientNames.add(n.asText()));
        this.modelFile = dir.resolve("model.safetensors");
        this.expectedTensors = SafeTensors.readAll(dir.resolve("expected.safetensors"));
        this.batch = batch(SafeTensors.readAll(dir.resolve("inputs.safetensors")));
    }

    static TorchFixture load(String name) {
        try {
            return new TorchFixture(name);
        } catch (IOException e) {
            throw new UncheckedIOException("reading fixture " + name, e);
        }
    }

    static Path resourceDir(String name) {
        URL url = TorchFixture.class.getResource("/reference/" + name + "/");
        if (url == null) throw new IllegalStateException("test resource reference/" + name + " is missing");
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    FloatTensor tensor(String key) {
        FloatTensor t = expectedTensors.get(key);
        if (t == null) throw new IllegalStateException("fixture " + name + " has no tensor " + key);
        return t;
    }

    /** The architecture the generator used; training-only knobs (masking, dropout) are off or irrelevant. */
    private static MertConfig config(JsonNode c) {
        List<MertConfig.ConvLayer> convs = new ArrayList<>();
        c.get("conv_feature_layers").forEach(l -> convs.add(new MertConfig.ConvLayer(l.get(0).asInt(), l.get(1).asInt(), l.get(2).asInt())));
        List<Integer> classes = new ArrayList<>();
        c.get("label_classes").forEach(n -> classes.add(n.asInt()));
        List<Double> weights = new ArrayList<>();
        c.get("loss_weights").forEach(n -> weights.add(n.asDouble()));
        return new MertConfig(convs, c.get("extractor_mode").asText(), c.get("encoder_layers").asInt(),
                c.get("encoder_embed_dim").asInt(), c.get("encoder_ffn_embed_dim").asInt(),
                c.get("encoder_attention_heads").asInt(), c.get("layer_norm_first").asBoolean(),
                c.get("conv_pos").asInt(), c.get("conv_pos_groups").asInt(), 0.0, c.get("final_dim").asInt(),
                c.get("logit_temp").asDouble(), 0.8, 5, c.get("feature_grad_mult").asDouble(),
                0.0, 0.0, 0.0, 0.0, 0.0, 0.0, classes, c.get("cqt_bins").asInt(), weights, 24000, 75);
    }

    private Batch batch(Map<String, FloatTensor> in) {
        float[] wave = in.get("waveform").data();
        float[] maskF = in.get("mask").data();
        byte[] mask = new byte[maskF.length];
        for (int i = 0; i < mask.length; i++) mask[i] = (byte) Math.round(maskF[i]);
        int streams = config.labelClasses().size();
        int[][] labels = new int[streams][];
        for (int s = 0; s < streams; s++) {
            float[] l = in.get("labels_" + s).data();
            labels[s] = new int[l.length];
            for (int i = 0; i < l.length; i++) labels[s][i] = Math.round(l[i]);
        }
        return new Batch(clips, samples, frames, wave, labels, in.get("cqt").data(), mask);
    }
}
