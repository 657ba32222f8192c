package io.mert.model.config;

import io.mert.model.MertConfig;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class TrainConfigTest {

    private static final String YAML = """
            common: {seed: 7, log_interval: 5}
            task: {data: /data/manifest, labels: [km], max_sample_size: 48000}
            model: {preset: tiny, encoder_layers: 3}
            dataset: {global_batch_size: 8}
            optimization: {max_update: 100, lr: [0.0005], clip_norm: 10.0}
            optimizer: {adam_betas: '(0.9,0.98)', adam_eps: 1.0e-06, weight_decay: 0.01}
            lr_scheduler: {warmup_updates: 10}
            """;

    @Test
    void readsFairseqKeysAndAppliesOverrides() {
        TrainConfig c = TrainConfig.from(ConfigTree.parse(YAML, "test").withOverrides(List.of("optimization.max_update=50", "model.final_dim=32")));
        assertEquals(7, c.seed());
        assertEquals(50, c.maxUpdate());
        assertEquals(50, c.totalNumUpdate(), "total_num_update defaults to max_update");
        assertEquals(3, c.model().encoderLayers());
        assertEquals(32, c.model().finalDim());
        assertEquals(0.98, c.beta2());
        assertEquals(5e-4, c.lr());
        assertEquals(149, c.model().framesFor(48000));
    }

    @Test
    void hashIgnoresLayoutButNotValues() {
        ConfigTree a = ConfigTree.parse(YAML, "a");
        ConfigTree b = ConfigTree.parse("optimization: {max_update: 100, clip_norm: 10.0, lr: [0.0005]}\n" + YAML.replace("optimization: {max_update: 100, lr: [0.0005], clip_norm: 10.0}\n", ""), "b");
        assertEquals(a.hash(), b.hash());
        assertNotEquals(a.hash(), a.withOverrides(List.of("common.seed=8")).hash());
    }

    @Test
    void errorsNameTheKeyTheValueAndWhatIsAllowed() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> TrainConfig.from(ConfigTree.parse(YAML, "t").withOverrides(List.of("model.mask_prob=1.5"))));
        assertTrue(e.getMessage().contains("model.mask_prob") && e.getMessage().contains("1.5") && e.getMessage().contains("[0.0, 1.0]"), e.getMessage());
        e = assertThrows(ConfigException.class,
                () -> TrainConfig.from(ConfigTree.parse(YAML, "t").withOverrides(List.of("task.max_sample_size=400"))));
        assertTrue(e.getMessage().contains("receptive field"), e.getMessage());
        e = assertThrows(ConfigException.class,
                () -> TrainConfig.from(ConfigTree.parse(YAML, "t").withOverrides(List.of("task.label_rate=50"))));
        assertTrue(e.getMessage().contains("task.label_rate"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> TrainConfig.from(ConfigTree.parse("task: {}", "t")));
        assertTrue(e.getMessage().contains("task.data"), e.getMessage());
    }

    @Test
    void parsesFairseqConvLayerSpec() {
        List<MertConfig.ConvLayer> l = TrainConfig.parseConvLayers("[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2");
        assertEquals(MertConfig.mertConvLayers(512), l);
        assertThrows(ConfigException.class, () -> TrainConfig.parseConvLayers("[(512,10)]"));
    }
}
