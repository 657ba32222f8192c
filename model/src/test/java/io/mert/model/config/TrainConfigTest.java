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
    void allreduceWireIsFp32UnlessBf16IsAsked() {
        assertEquals("fp32", TrainConfig.from(ConfigTree.parse(YAML, "t")).allreduceWire());
        assertEquals("bf16", TrainConfig.from(ConfigTree.parse(YAML, "t")
                .withOverrides(List.of("distributed_training.allreduce_wire=BF16"))).allreduceWire());
        String msg = error("distributed_training.allreduce_wire=fp16");
        assertTrue(msg.contains("distributed_training.allreduce_wire='fp16'") && msg.contains("allowed values are fp32, bf16"), msg);
    }

    @Test
    void allreduceTransportIsAeronUnlessShmIsAskedAndShmRefusesBf16() {
        assertEquals(TrainConfig.AllReduceTransport.AERON, TrainConfig.from(ConfigTree.parse(YAML, "t")).allreduceTransport());
        assertEquals(TrainConfig.AllReduceTransport.SHM, TrainConfig.from(ConfigTree.parse(YAML, "t")
                .withOverrides(List.of("distributed_training.allreduce_transport=shm"))).allreduceTransport());
        String msg = error("distributed_training.allreduce_transport=nccl");
        assertTrue(msg.contains("distributed_training.allreduce_transport='nccl'") && msg.contains("allowed are aeron"), msg);
        ConfigException e = assertThrows(ConfigException.class, () -> TrainConfig.from(ConfigTree.parse(YAML, "t")
                .withOverrides(List.of("distributed_training.allreduce_transport=shm", "distributed_training.allreduce_wire=bf16"))));
        assertTrue(e.getMessage().contains("float32 only"), e.getMessage());
    }

    @Test
    void precisionAndLossScaleUseFairseqsKeysAndDefaults() {
        TrainConfig plain = TrainConfig.from(ConfigTree.parse(YAML, "t"));
        assertEquals(Precision.FP32, plain.precision());
        TrainConfig fp16 = TrainConfig.from(ConfigTree.parse(YAML, "t").withOverrides(List.of("common.fp16=true",
                "distributed_training.distributed_world_size=4")));
        assertEquals(Precision.FP16, fp16.precision());
        LossScaleConfig ls = fp16.lossScale();
        assertEquals(128, ls.initScale());
        assertEquals(4096, ls.scaleWindow(), "fairseq: 2^14 / distributed_world_size");
        assertEquals(1e-4, ls.minScale());
        assertTrue(Double.isNaN(ls.threshold()));
        assertEquals(Precision.BF16, TrainConfig.from(ConfigTree.parse(YAML, "t")
                .withOverrides(List.of("common.memory_efficient_bf16=true"))).precision());
        LossScaleConfig set = TrainConfig.from(ConfigTree.parse(YAML, "t").withOverrides(List.of("common.fp16=true",
                "common.fp16_init_scale=4", "common.fp16_scale_window=7", "common.threshold_loss_scale=0.5"))).lossScale();
        assertEquals(new LossScaleConfig(4, 7, 0, 1e-4, 0.5), set);
        String msg = error("common.fp16=true", "common.bf16=true");
        assertTrue(msg.contains("common.fp16 and common.bf16 are both set"), msg);
        msg = error("common.fp16=true", "common.fp16_scale_window=0");
        assertTrue(msg.contains("common.fp16_scale_window=0"), msg);
    }

    @Test
    void prefetchBatchesIsOneByDefaultAndZeroOrMoreWhenSet() {
        assertEquals(1, TrainConfig.from(ConfigTree.parse(YAML, "t")).prefetchBatches());
        assertEquals(0, TrainConfig.from(ConfigTree.parse(YAML, "t").withOverrides(List.of("dataset.prefetch_batches=0"))).prefetchBatches());
        assertEquals(3, TrainConfig.from(ConfigTree.parse(YAML, "t").withOverrides(List.of("dataset.prefetch_batches=3"))).prefetchBatches());
        String msg = error("dataset.prefetch_batches=-1");
        assertTrue(msg.contains("dataset.prefetch_batches=-1") && msg.contains("allowed range is [0, 64]"), msg);
        msg = error("dataset.prefetch_batches=two");
        assertTrue(msg.contains("dataset.prefetch_batches=two") && msg.contains("expected an integer"), msg);
    }

    private static String error(String... overrides) {
        return assertThrows(ConfigException.class,
                () -> TrainConfig.from(ConfigTree.parse(YAML, "t").withOverrides(List.of(overrides)))).getMessage();
    }

    @Test
    void cropMustGiveAMaskSpanOfFramesAfterTheConvExtractor() {
        // MERT extractor: receptive field 400 samples, stride 320; mask_length 5 needs 6 frames = 400 + 5 * 320 samples
        MertConfig m = MertConfig.tiny();
        assertEquals(400, TrainConfig.samplesForFrames(m, 1));
        assertEquals(2000, TrainConfig.samplesForFrames(m, 6));
        assertEquals(6, m.framesFor(2000));
        assertEquals(5, m.framesFor(1999));
        String msg = error("task.max_sample_size=1999");
        assertTrue(msg.contains("task.max_sample_size=1999") && msg.contains("5 frames") && msg.contains("model.mask_length=5")
                && msg.contains("allowed is >= 2000 samples"), msg);
        assertEquals(2000, TrainConfig.from(ConfigTree.parse(YAML, "t").withOverrides(List.of("task.max_sample_size=2000"))).maxSampleSize());
    }

    @Test
    void labelRateMustBeTheFrameRateOfTheConvExtractor() {
        String msg = error("task.label_rate=50");
        assertTrue(msg.contains("task.label_rate=50") && msg.contains("75.0 Hz") && msg.contains("24000") && msg.contains("320"), msg);
        // a stride-160 extractor at 24 kHz has 150 Hz frames: label_rate 150 is right, 75 is not
        String conv = "model.conv_feature_layers='[(32,10,5)] + [(32,3,2)] * 4 + [(32,2,2)]'";
        assertEquals(160, TrainConfig.from(ConfigTree.parse(YAML, "t").withOverrides(List.of(conv, "task.label_rate=150")))
                .model().frameStride());
        assertTrue(error(conv).contains("150.0 Hz"));
    }

    @Test
    void globalBatchMustGiveEveryWorkerAClip() {
        String msg = error("distributed_training.distributed_world_size=9");
        assertTrue(msg.contains("distributed_training.distributed_world_size=9") && msg.contains("dataset.global_batch_size=8")
                && msg.contains("<= 8"), msg);
        msg = error("distributed_training.min_world_size=9");
        assertTrue(msg.contains("distributed_training.min_world_size=9") && msg.contains("<= 8"), msg);
        TrainConfig ok = TrainConfig.from(ConfigTree.parse(YAML, "t").withOverrides(List.of("distributed_training.distributed_world_size=8")));
        assertEquals(8, ok.worldSize());
    }

    @Test
    void nonFiniteAndOutOfRangeNumbersAreRejected() {
        assertTrue(error("optimization.clip_norm=NaN").contains("optimization.clip_norm=NaN: allowed range"));
        assertTrue(error("optimization.lr=Infinity").contains("positive and finite"));
        assertTrue(error("optimizer.adam_betas=(NaN, 0.9)").contains("optimizer.adam_betas"));
        assertTrue(error("common.seed=18446744073709551621").contains("common.seed=18446744073709551621"), "no silent wrap to 5");
        assertTrue(error("model.preset=huge").contains("model.preset"));
        assertTrue(error("task.data=/a\u0000b".replace("\\u0000", "\u0000")).contains("task.data"));
        assertTrue(error(".=1").contains("empty section"));
    }

    @Test
    void parsesFairseqConvLayerSpec() {
        List<MertConfig.ConvLayer> l = TrainConfig.parseConvLayers("[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2");
        assertEquals(MertConfig.mertConvLayers(512), l);
        assertThrows(ConfigException.class, () -> TrainConfig.parseConvLayers("[(512,10)]"));
    }

    @Test
    void maxTokensReplacesTheGlobalBatchAndBoundsTheWorldSize() {
        String msg = error("dataset.max_tokens=480000");
        assertTrue(msg.contains("dataset.max_tokens and dataset.global_batch_size are both set"), msg);
        TrainConfig c = TrainConfig.from(ConfigTree.parse(YAML, "t").withOverrides(List.of("dataset.global_batch_size=null",
                "dataset.max_tokens=480000", "task.min_sample_size=24000", "distributed_training.distributed_world_size=10")));
        assertTrue(c.batchesByTokens());
        assertEquals(480000, c.maxTokens());
        assertEquals(0, c.globalBatch());
        assertEquals(10, c.clipsPerStepAtLeast(), "480000 / 48000 full crops per step");
        assertEquals(24000, c.shortestCrop());
        assertEquals(2000, TrainConfig.from(ConfigTree.parse(YAML, "t")).shortestCrop(), "at least a mask span plus one frame");
        assertFalse(TrainConfig.from(ConfigTree.parse(YAML, "t")).batchesByTokens());
        msg = error("dataset.global_batch_size=null", "dataset.max_tokens=480000", "distributed_training.distributed_world_size=11");
        assertTrue(msg.contains("distributed_world_size=11") && msg.contains("dataset.max_tokens=480000") && msg.contains("<= 10"), msg);
        msg = error("dataset.global_batch_size=null", "dataset.max_tokens=40000");
        assertTrue(msg.contains("dataset.max_tokens=40000") && msg.contains("task.max_sample_size=48000") && msg.contains(">= 48000"), msg);
        msg = error("task.min_sample_size=50000");
        assertTrue(msg.contains("task.min_sample_size=50000") && msg.contains("<= max_sample_size"), msg);
    }
}
