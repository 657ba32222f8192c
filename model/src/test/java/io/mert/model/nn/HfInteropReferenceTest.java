package io.mert.model.nn;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.mert.model.MertConfig;
import io.mert.model.ParameterLayout;
import io.mert.model.checkpoint.CheckpointFormatException;
import io.mert.model.checkpoint.FloatTensor;
import io.mert.model.checkpoint.SafeTensors;
import io.mert.model.hf.HfConfig;
import io.mert.model.hf.HfModelDir;
import io.mert.model.hf.HfWeights;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * HuggingFace model directories holding the torchaudio-made reference models of
 * {@link TorchReferenceTest} (reference/hf/, from tools/reference/make_hf_fixtures.py): imported, our
 * network reproduces torchaudio's float64 hidden states; exported and imported again, every tensor
 * and the architecture come back unchanged.
 */
class HfInteropReferenceTest {

    /** The fixture's pre-training settings (heads are not in HF files; they come from this base). */
    private static MertConfig base(TorchFixture f) {
        return f.config;
    }

    @Test
    void importedPytorchBinReproducesTorchaudioHiddenStates() throws IOException {
        TorchFixture f = TorchFixture.load("postln");
        HfModelDir.Imported imported = HfModelDir.read(hfResource("postln"), base(f), 5);
        assertEquals(f.config, imported.config(), "architecture read from config.json");
        assertEquals(HfModelDir.TORCH_BIN, imported.report().file().getFileName().toString());
        assertEquals(List.of("final_proj.weight", "final_proj.bias", "label_embs_concat", "encoder_cqt_model.fc.weight",
                "encoder_cqt_model.fc.bias"), imported.report().keptInitial());
        assertHiddenStatesMatch(f, imported);
    }

    @Test
    void importedSafetensorsWithParametrizedWeightNormReproducesTorchaudio(@TempDir Path tmp) throws IOException {
        TorchFixture f = TorchFixture.load("preln");
        Path dir = Files.createDirectory(tmp.resolve("preln"));
        Files.copy(hfResource("preln").resolve(HfModelDir.CONFIG), dir.resolve(HfModelDir.CONFIG));
        // The torch >= 2.1 spelling of weight norm, and without the pre-training heads, as HF saves it.
        Map<String, FloatTensor> all = SafeTensors.readAll(f.modelFile);
        List<SafeTensors.Source> sources = new ArrayList<>();
        for (Map.Entry<String, FloatTensor> e : all.entrySet()) {
            if (HfWeights.isPretrainingHead(e.getKey())) continue;
            String name = e.getKey().replace("conv.weight_g", "conv.parametrizations.weight.original0")
                    .replace("conv.weight_v", "conv.parametrizations.weight.original1");
            sources.add(new SafeTensors.Source(name, e.getValue().shape(), Nd4j.createFromArray(e.getValue().data()), 0));
        }
        try (FileChannel ch = FileChannel.open(dir.resolve(HfModelDir.SAFETENSORS), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            SafeTensors.write(ch, sources, Map.of("format", "pt"));
        }
        HfModelDir.Imported imported = HfModelDir.read(dir, base(f), 5);
        assertEquals(f.config, imported.config());
        assertHiddenStatesMatch(f, imported);
    }

    @Test
    void exportThenImportGivesIdenticalTensorsAndConfig(@TempDir Path tmp) throws IOException {
        TorchFixture f = TorchFixture.load("postln");
        HfModelDir.Imported first = HfModelDir.read(hfResource("postln"), base(f), 5);
        Path out = tmp.resolve("exported");
        HfModelDir.export(first.config(), first.layout(), first.params(), out, Map.of("format", "pt"));
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(List.of(out), s.toList(), "no temporary directory left behind");
        }

        JsonNode config = new ObjectMapper().readTree(out.resolve(HfModelDir.CONFIG).toFile());
        assertEquals(HfConfig.MODEL_TYPE, config.get("model_type").asText());
        assertEquals("MERTModel", config.get("architectures").get(0).asText());
        assertEquals(f.config.encoderEmbedDim(), config.get("hidden_size").asInt());
        assertEquals("group", config.get("feat_extract_norm").asText());
        assertEquals(f.config.convPos(), config.get("num_conv_pos_embeddings").asInt());
        JsonNode pre = new ObjectMapper().readTree(out.resolve(HfModelDir.PREPROCESSOR).toFile());
        assertEquals(24000, pre.get("sampling_rate").asInt());

        // The exported weights: exactly the HF-held tensors, bit-equal to the reference model's.
        Map<String, FloatTensor> exported = SafeTensors.readAll(out.resolve(HfModelDir.SAFETENSORS));
        Map<String, FloatTensor> reference = SafeTensors.readAll(f.modelFile);
        for (String head : reference.keySet().stream().filter(HfWeights::isPretrainingHead).toList()) reference.remove(head);
        assertEquals(reference.keySet(), exported.keySet());
        for (String k : reference.keySet()) assertEquals(reference.get(k), exported.get(k), k);

        HfModelDir.Imported second = HfModelDir.read(out, base(f), 99);
        assertEquals(first.config(), second.config());
        for (ParameterLayout.Entry e : HfWeights.hfEntries(first.layout())) {
            assertArrayEquals(ParameterInit.view(first.params(), e).reshape(-1).toFloatVector(),
                    ParameterInit.view(second.params(), e).reshape(-1).toFloatVector(), e.name());
        }
        // The heads are not exported: a different seed gives different fresh heads.
        ParameterLayout.Entry head = first.layout().get(MertLayout.LABEL_EMBS);
        assertFalse(Arrays.equals(ParameterInit.view(first.params(), head).reshape(-1).toFloatVector(),
                ParameterInit.view(second.params(), head).reshape(-1).toFloatVector()));

        IllegalArgumentException busy = assertThrows(IllegalArgumentException.class,
                () -> HfModelDir.export(first.config(), first.layout(), first.params(), out, Map.of()));
        assertTrue(busy.getMessage().contains("not empty"), busy.getMessage());
    }

    @Test
    void mismatchedWeightsAreRefusedWithTheTensorName(@TempDir Path tmp) throws IOException {
        TorchFixture f = TorchFixture.load("postln");
        HfModelDir.Imported first = HfModelDir.read(hfResource("postln"), base(f), 5);
        Path out = tmp.resolve("m");
        HfModelDir.export(first.config(), first.layout(), first.params(), out, Map.of());
        // config.json promising a wider FFN than the weights hold
        ObjectMapper m = new ObjectMapper();
        var cfg = (com.fasterxml.jackson.databind.node.ObjectNode) m.readTree(out.resolve(HfModelDir.CONFIG).toFile());
        cfg.put("intermediate_size", f.config.encoderFfnEmbedDim() * 2);
        m.writeValue(out.resolve(HfModelDir.CONFIG).toFile(), cfg);
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class, () -> HfModelDir.read(out, base(f), 5));
        assertTrue(e.getMessage().contains("intermediate_dense") && e.getMessage().contains("has shape"), e.getMessage());
        // one layer fewer in config.json: the file then holds tensors the model does not have
        cfg.put("intermediate_size", f.config.encoderFfnEmbedDim());
        cfg.put("num_hidden_layers", f.config.encoderLayers() - 1);
        m.writeValue(out.resolve(HfModelDir.CONFIG).toFile(), cfg);
        e = assertThrows(CheckpointFormatException.class, () -> HfModelDir.read(out, base(f), 5));
        assertTrue(e.getMessage().contains("does not have") && e.getMessage().contains("encoder.layers.1."), e.getMessage());
    }

    private static void assertHiddenStatesMatch(TorchFixture f, HfModelDir.Imported imported) {
        try (MertNetwork net = new MertNetwork(imported.config(), f.samples, 0)) {
            INDArray p = net.parameters();
            p.assign(imported.params());
            int layers = f.config.encoderLayers() + 1, e = f.config.encoderEmbedDim();
            for (int clip = 0; clip < f.clips; clip++) {
                float[][][] got = net.hiddenStates(Arrays.copyOfRange(f.batch.waveforms(), clip * f.samples, (clip + 1) * f.samples));
                assertEquals(layers, got.length);
                for (int k = 0; k < layers; k++) {
                    float[] ref = f.tensor("hidden_" + k).data();
                    double maxRef = 0, maxDiff = 0;
                    for (int t = 0; t < f.frames; t++) {
                        for (int j = 0; j < e; j++) {
                            double r = ref[(clip * f.frames + t) * e + j];
                            maxRef = Math.max(maxRef, Math.abs(r));
                            maxDiff = Math.max(maxDiff, Math.abs(got[k][t][j] - r));
                        }
                    }
                    assertTrue(maxDiff / maxRef <= TorchReferenceTest.HIDDEN_TOL,
                            f.name + " clip " + clip + " hidden " + k + ": max|diff|/max|ref| = " + maxDiff / maxRef);
                }
            }
        }
    }

    private static Path hfResource(String name) {
        return TorchFixture.resourceDir("hf/" + name);
    }
}
