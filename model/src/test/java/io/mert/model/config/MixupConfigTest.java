package io.mert.model.config;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** MERT's mixup keys: its string ranges, preset defaults, and clear errors. */
class MixupConfigTest {

    @Test
    void presetsAndMertsKeysAndStringRanges() {
        assertFalse(MixupConfig.from(ConfigTree.parse("model: {preset: tiny}", "t")).enabled());
        assertEquals(new MixupConfig(0.5, 12000, 24000, 1, 3, 1.0), MixupConfig.from(ConfigTree.parse("model: {preset: MERT-95M}", "t")));
        assertEquals(36000, MixupConfig.from(ConfigTree.parse("model: {preset: MERT-330M}", "t")).maxLength());
        MixupConfig m = MixupConfig.from(ConfigTree.parse("""
                model:
                  preset: tiny
                  mixture_prob: 0.3
                  inbatch_noise_augment_len_range: "[8000, 16000]"
                  inbatch_noise_augment_number_range: [2, 4]
                  inbatch_noise_augment_volume: 0.5
                """, "t"));
        assertEquals(new MixupConfig(0.3, 8000, 16000, 2, 4, 0.5), m);
        assertFalse(MixupConfig.from(ConfigTree.parse("model: {preset: MERT-95M}", "t").withOverrides(List.of("model.mixture_prob=-1")))
                .enabled(), "MERT's -1 turns it off");
    }

    @Test
    void badValuesNameTheKey() {
        ConfigException e = assertThrows(ConfigException.class, () -> MixupConfig.from(ConfigTree.parse(
                "model: {inbatch_noise_augment_len_range: '[24000, 12000]'}", "t")));
        assertTrue(e.getMessage().contains("model.inbatch_noise_augment_len_range"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> MixupConfig.from(ConfigTree.parse(
                "model: {inbatch_noise_augment_number_range: 'three'}", "t")));
        assertTrue(e.getMessage().contains("expected two integers"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> MixupConfig.from(ConfigTree.parse("model: {mixture_prob: 1.5}", "t")));
        assertTrue(e.getMessage().contains("model.mixture_prob=1.5"), e.getMessage());
    }
}
