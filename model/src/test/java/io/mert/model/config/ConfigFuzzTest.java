package io.mert.model.config;

import io.mert.model.fuzz.Bounded;
import io.mert.model.fuzz.ByteMutation;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Hostile configs and overrides: parsing and validation end in a TrainConfig or a ConfigException
 * (its documented contract), never another exception, a hang or an allocation bomb.
 */
class ConfigFuzzTest {
    private static final String VALID = """
            common: {seed: 7, log_interval: 5}
            task: {data: /data/manifest, labels: [km], max_sample_size: 48000, sample_rate: 24000, label_rate: 75}
            model: {preset: tiny, encoder_layers: 3, conv_feature_layers: '[(32,10,5)] + [(32,3,2)] * 4 + [(32,2,2)] * 2'}
            dataset: {global_batch_size: 8}
            optimization: {max_update: 100, lr: [0.0005], clip_norm: 10.0}
            optimizer: {adam_betas: '(0.9,0.98)', adam_eps: 1.0e-06, weight_decay: 0.01}
            lr_scheduler: {warmup_updates: 10}
            distributed_training: {distributed_world_size: 2, min_world_size: 1}
            """;

    private static final long BUDGET = 256L << 20;

    /** A parse error names the document; a validation error names the key (section.name). */
    private static final java.util.regex.Pattern NAMES_KEY_OR_FILE = java.util.regex.Pattern.compile("fuzz\\.yaml|[a-z_]+\\.[a-z_]+|override");

    private static void parseAndValidate(String yaml, List<String> overrides) {
        var out = Bounded.run(ConfigException.class, BUDGET,
                () -> TrainConfig.from(ConfigTree.parse(yaml, "fuzz.yaml").withOverrides(overrides)));
        if (!out.ok()) assertTrue(NAMES_KEY_OR_FILE.matcher(out.error().getMessage()).find(), out.error().getMessage());
        if (out.ok()) {
            TrainConfig c = out.value();
            assertTrue(c.globalBatch() >= c.minWorldSize() && c.lr() > 0 && Double.isFinite(c.lr()), c.toString());
            assertEquals(c.model().sampleRate(), (long) c.model().labelRate() * c.model().frameStride());
        }
    }

    @Provide
    Arbitrary<List<ByteMutation>> mutations() {
        return ByteMutation.several();
    }

    @Example
    void theBaseConfigIsValid() {
        TrainConfig c = TrainConfig.from(ConfigTree.parse(VALID, "fuzz.yaml"));
        assertEquals(320, c.model().frameStride());
    }

    @Property(tries = 400)
    void damagedYamlParsesOrFailsWithConfigException(@ForAll("mutations") List<ByteMutation> damage) {
        byte[] b = ByteMutation.applyAll(damage, VALID.getBytes(StandardCharsets.UTF_8));
        parseAndValidate(new String(b, StandardCharsets.UTF_8), List.of());
    }

    @Provide
    Arbitrary<String> keys() {
        return Arbitraries.of("common.seed", "task.max_sample_size", "task.sample_rate", "task.label_rate", "task.data", "task.labels",
                "model.preset", "model.conv_feature_layers", "model.encoder_embed_dim", "model.encoder_attention_heads",
                "model.mask_length", "model.mask_prob", "model.layer_norm_first", "criterion.loss_weights", "dataset.global_batch_size",
                "optimization.lr", "optimization.clip_norm", "optimizer.adam_betas", "lr_scheduler.power",
                "distributed_training.distributed_world_size", "distributed_training.min_world_size", "model", "task", ".", "..",
                "a..b", "model.extractor_mode", "unknown.key", "distributed_training.step_timeout_s");
    }

    @Provide
    Arbitrary<String> values() {
        return Arbitraries.oneOf(
                Arbitraries.of("", "0", "-1", "1", "2", "75", "320", "2147483648", "18446744073709551621", "9e99", "-9e99", ".nan", "NaN",
                        ".inf", "-.inf", "Infinity", "true", "null", "~", "[]", "[1, 2]", "{}", "{a: 1}", "'(0.9)'", "(1,2,3)",
                        "[(1,1,1)]", "[(0,0,0)]", "[(32,10,5)] * 2000000000", "[(99999999999,2,2)]", "[(32,2,0)]",
                        "[(32,2,1000)] * 7", "\u0000", "/tmp/\u0000x", "[(1,1,1)" + "  (1,1,1)".repeat(40), "tiny", "nope", "*a", "&a [1]",
                        "!!binary AAAA", "!!java.io.File x"),
                Arbitraries.strings().ofMaxLength(30));
    }

    @Property(tries = 400)
    void hostileOverridesFailWithConfigException(@ForAll("keys") String key, @ForAll("values") String value) {
        parseAndValidate(VALID, List.of(key + "=" + value));
    }

    @Property(tries = 100)
    void randomDocuments(@ForAll("documents") String yaml) {
        parseAndValidate(yaml, List.of());
    }

    @Provide
    Arbitrary<String> documents() {
        Arbitrary<String> scalar = Arbitraries.of("1", "-3", "x", "'q'", "[1,2]", "{}", "~", "&a 1", "*a", "!!str 5", "? x", "- 1");
        Arbitrary<String> line = Combinators.combine(Arbitraries.of("", "  ", "    ", "- "), Arbitraries.of("common", "task", "model", "data",
                "seed", "max_sample_size", "<<", "a"), Arbitraries.of(":", ": ", " :", ""), scalar).as((i, k, c, v) -> i + k + c + v);
        return line.list().ofMaxSize(12).map(l -> String.join("\n", l));
    }

    /** Billion laughs: nine levels of ten aliases would expand to 10^9 nodes if aliases were expanded. */
    @Example
    void aliasBombIsRefusedOrStaysSmall() {
        StringBuilder y = new StringBuilder("a0: &a0 [x]\n");
        for (int i = 1; i <= 9; i++) {
            y.append("a").append(i).append(": &a").append(i).append(" [");
            for (int j = 0; j < 10; j++) y.append(j > 0 ? ", " : "").append("*a").append(i - 1);
            y.append("]\n");
        }
        var out = Bounded.runNaming(ConfigException.class, "bomb.yaml", BUDGET, () -> ConfigTree.parse(y.toString(), "bomb.yaml"));
        assertFalse(out.ok(), "aliases must be refused");
        assertTrue(out.error().getMessage().contains("alias '*a0'"), out.error().getMessage());
    }

    /** Regression: Jackson read an alias as its anchor's name, so {@code lr: *base} silently became the string "base". */
    @Example
    void aliasesAreRefusedNotReadAsStrings() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> ConfigTree.parse("base: &b 0.1\noptimization: {lr: *b}\n", "a.yaml"));
        assertTrue(e.getMessage().contains("a.yaml line 2") && e.getMessage().contains("*b"), e.getMessage());
    }

    @Example
    void deepNestingAndHugeDocumentsAreRefused() {
        String deep = "a: " + "[".repeat(10_000) + "]".repeat(10_000);
        var out = Bounded.runNaming(ConfigException.class, "deep.yaml", BUDGET, () -> ConfigTree.parse(deep, "deep.yaml"));
        assertFalse(out.ok());
        String deepMap = "{a: ".repeat(5_000) + "1" + "}".repeat(5_000);
        assertFalse(Bounded.runNaming(ConfigException.class, "deep.yaml", BUDGET, () -> ConfigTree.parse(deepMap, "deep.yaml")).ok());
        String huge = "common: {seed: 1}\nnote: '" + "x".repeat(ConfigTree.MAX_CODE_POINTS) + "'\n";
        var big = Bounded.runNaming(ConfigException.class, "huge.yaml", BUDGET, () -> ConfigTree.parse(huge, "huge.yaml"));
        assertFalse(big.ok());
    }

    /** Regression: a repeat count of 2^31 - 1 built the layer list before anything checked it. */
    @Example
    void convSpecRepeatsAreBounded() {
        ConfigException e = assertThrows(ConfigException.class, () -> TrainConfig.parseConvLayers("[(32,2,2)] * 2000000000"));
        assertTrue(e.getMessage().contains("2000000000"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> TrainConfig.parseConvLayers("[(32,2,0)]"));
        assertTrue(e.getMessage().contains("stride") && e.getMessage().contains("0"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> TrainConfig.parseConvLayers("[(99999999999,2,2)]"));
        assertTrue(e.getMessage().contains("99999999999"), e.getMessage());
    }

    /** Regression: unclosed tuple lists made the conv-spec pattern backtrack exponentially. */
    @Example
    void convSpecPatternDoesNotBacktrack() {
        String spec = "[(1,1,1)" + "  (1,1,1)".repeat(40);
        var out = Bounded.run(ConfigException.class, BUDGET, () -> TrainConfig.parseConvLayers(spec));
        assertFalse(out.ok());
    }
}
