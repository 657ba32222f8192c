package io.mert.model.hf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mert.model.MertConfig;
import io.mert.model.ParameterLayout;
import io.mert.model.nn.MertLayout;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Our MERT-95M and MERT-330M presets against torchaudio's wav2vec2_model built with the
 * hyperparameters of MERT's published HF configs (reference/hf/layouts.json, written by
 * tools/reference/make_hf_fixtures.py): same HF tensor names, same shapes, same count. HF's MERTModel
 * holds masked_spec_embed, which torchaudio's encoder does not, so the HF count is torchaudio's plus
 * that tensor; the pre-training heads are ours alone (HF does not hold them) and are not counted.
 */
class HfLayoutReferenceTest {

    private static JsonNode layouts;

    @BeforeAll
    static void load() throws IOException {
        layouts = new ObjectMapper().readTree(HfFixtures.path("layouts.json").toFile());
    }

    @ParameterizedTest
    @ValueSource(strings = {"MERT-95M", "MERT-330M"})
    void encoderEqualsTorchaudioModelOfThePublishedConfig(String preset) {
        JsonNode ref = layouts.get(preset);
        Map<String, List<Long>> expected = new LinkedHashMap<>();
        long expectedCount = 0;
        for (String list : List.of("torchaudio_tensors", "hf_only_tensors")) {
            for (JsonNode t : ref.get(list)) {
                List<Long> shape = new java.util.ArrayList<>();
                t.get(1).forEach(d -> shape.add(d.asLong()));
                expected.put(t.get(0).asText(), shape);
                expectedCount += shape.stream().reduce(1L, (a, b) -> a * b);
            }
        }
        long torchaudio = ref.get("torchaudio_parameters").asLong();
        assertEquals(torchaudio + MertConfig.preset(preset).encoderEmbedDim(), expectedCount,
                "fixture: torchaudio's count plus masked_spec_embed");

        ParameterLayout layout = MertLayout.of(MertConfig.preset(preset));
        Map<String, List<Long>> ours = new LinkedHashMap<>();
        for (ParameterLayout.Entry e : HfWeights.hfEntries(layout)) ours.put(e.name(), Arrays.stream(e.shape()).boxed().toList());
        assertEquals(expected, ours, preset + ": HF tensor names and shapes");
        assertEquals(expectedCount, HfWeights.hfParameterCount(layout), preset + ": encoder parameter count");
        assertTrue(layout.totalSize() > expectedCount, "the pre-training heads come on top");
    }

    @ParameterizedTest
    @ValueSource(strings = {"MERT-95M", "MERT-330M"})
    void exportedConfigCarriesThePublishedArchitecture(String preset) {
        JsonNode published = layouts.get(preset).get("hf_config");
        ObjectNode ours = HfConfig.toJson(MertConfig.preset(preset));
        assertEquals("modeling_MERT.MERTModel", ours.path("auto_map").path("AutoModel").asText(), "auto_map as the public repos");
        assertEquals("configuration_MERT.MERTConfig", ours.path("auto_map").path("AutoConfig").asText());
        for (Iterator<Map.Entry<String, JsonNode>> it = published.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            JsonNode mine = ours.get(f.getKey());
            assertTrue(mine != null, preset + ": config.json lacks " + f.getKey());
            if (f.getValue().isNumber()) assertEquals(f.getValue().asDouble(), mine.asDouble(), 0.0, preset + " " + f.getKey());
            else assertEquals(f.getValue(), mine, preset + " " + f.getKey());
        }
        // Reading the published architecture back over the preset gives the preset itself.
        assertEquals(MertConfig.preset(preset), HfConfig.fromJson(published, MertConfig.preset(preset), preset));
        assertEquals(MertConfig.preset(preset), HfConfig.fromJson(ours, MertConfig.preset(preset), preset));
    }

    @Test
    void unsupportedOptionsAreNamed() {
        MertConfig base = MertConfig.preset("MERT-95M");
        Map<String, Object> bad = new LinkedHashMap<>();
        bad.put("conv_bias", true);
        bad.put("feature_extractor_cqt", true);
        bad.put("deepnorm", true);
        bad.put("hidden_act", "relu");
        bad.put("feat_extract_norm", "batch");
        bad.put("layer_norm_eps", 1e-6);
        bad.put("model_type", "wav2vec2");
        bad.put("feat_proj_layer_norm", false);
        bad.put("sample_rate", 16000);
        bad.put("num_attention_heads", 7);
        ObjectMapper m = new ObjectMapper();
        for (Map.Entry<String, Object> e : bad.entrySet()) {
            ObjectNode json = HfConfig.toJson(base);
            json.set(e.getKey(), m.valueToTree(e.getValue()));
            IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, () -> HfConfig.fromJson(json, base, "cfg.json"));
            assertTrue(ex.getMessage().startsWith("cfg.json: " + e.getKey() + " = "), ex.getMessage());
        }
    }

    @Test
    void preprocessorIsMertsFeatureExtractor() {
        ObjectNode p = HfConfig.preprocessorJson(MertConfig.preset("MERT-95M"));
        assertEquals("Wav2Vec2FeatureExtractor", p.get("feature_extractor_type").asText());
        assertEquals(24000, p.get("sampling_rate").asInt());
        assertTrue(p.get("do_normalize").asBoolean());
        assertEquals(1, p.get("feature_size").asInt());
    }

    @Test
    void summaryGroupsCoverTheLayout() {
        ParameterLayout layout = MertLayout.of(MertConfig.preset("MERT-95M"));
        long sum = 0;
        for (LayoutSummary.Group g : LayoutSummary.groups(layout)) {
            long shown = g.entries().stream().mapToLong(ParameterLayout.Entry::size).sum() * g.repeats();
            assertEquals(g.parameters(), shown, g.title());
            sum += g.parameters();
        }
        assertEquals(layout.totalSize(), sum);
        String text = LayoutSummary.format("t", layout);
        assertTrue(text.contains("encoder.layers.{0..11}.attention.q_proj.weight"), text);
        assertTrue(text.contains(String.format(java.util.Locale.ROOT, "%,d", HfWeights.hfParameterCount(layout))), text);
    }
}
