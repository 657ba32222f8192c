package io.mert.model.config;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * MERT's in-batch noise mixup: a clip is mixed when a uniform draw exceeds {@code mixtureProb}; it then
 * gets {@code minNoises..maxNoises} segments of {@code minLength..maxLength} samples cut from the other
 * clips of the batch, each added at a random position times {@code volume}. Keys as in MERT's model
 * config: {@code model.mixture_prob}, {@code model.inbatch_noise_augment_len_range},
 * {@code model.inbatch_noise_augment_number_range}, {@code model.inbatch_noise_augment_volume}
 * (ranges as a list or as MERT's string {@code "[12000, 24000]"}). Defaults follow {@code model.preset}.
 */
public record MixupConfig(double mixtureProb, int minLength, int maxLength, int minNoises, int maxNoises, double volume) {

    public static final MixupConfig OFF = new MixupConfig(-1, 8000, 24000, 1, 3, 1.0);

    public MixupConfig {
        if (minLength < 1 || maxLength < minLength) {
            throw new ConfigException("model.inbatch_noise_augment_len_range=[" + minLength + ", " + maxLength
                    + "]: need 1 <= min <= max samples");
        }
        if (minNoises < 0 || maxNoises < minNoises) {
            throw new ConfigException("model.inbatch_noise_augment_number_range=[" + minNoises + ", " + maxNoises
                    + "]: need 0 <= min <= max");
        }
        if (!(mixtureProb <= 1)) {
            throw new ConfigException("model.mixture_prob=" + mixtureProb + ": allowed values are <= 1 (a clip is mixed when a "
                    + "uniform draw exceeds it; <= 0 turns mixup off, as in MERT)");
        }
        if (!(volume >= 0) || Double.isInfinite(volume)) {
            throw new ConfigException("model.inbatch_noise_augment_volume=" + volume + ": allowed values are finite and >= 0");
        }
    }

    /** Whether mixup runs at all (MERT: {@code mixture_prob > 0}). */
    public boolean enabled() {
        return mixtureProb > 0;
    }

    /** MERT-v1-95M: half the clips, 1-3 segments of 0.5-1 s; 330M: segments up to 1.5 s; tiny: off. */
    public static MixupConfig preset(String preset) {
        return switch (preset) {
            case "MERT-95M", "95M" -> new MixupConfig(0.5, 12000, 24000, 1, 3, 1.0);
            case "MERT-330M", "330M" -> new MixupConfig(0.5, 12000, 36000, 1, 3, 1.0);
            default -> OFF;
        };
    }

    public static MixupConfig from(ConfigTree t) {
        JsonNode presetNode = t.get("model.preset");
        MixupConfig p = preset(presetNode == null ? "tiny" : presetNode.asText());
        double prob = number(t, "model.mixture_prob", p.mixtureProb());
        int[] len = range(t, "model.inbatch_noise_augment_len_range", p.minLength(), p.maxLength());
        int[] n = range(t, "model.inbatch_noise_augment_number_range", p.minNoises(), p.maxNoises());
        double vol = number(t, "model.inbatch_noise_augment_volume", p.volume());
        return new MixupConfig(prob, len[0], len[1], n[0], n[1], vol);
    }

    private static double number(ConfigTree t, String key, double dflt) {
        JsonNode n = t.get(key);
        if (n == null || n.isNull()) return dflt;
        if (n.isNumber()) return n.asDouble();
        try {
            return Double.parseDouble(n.asText().trim());
        } catch (NumberFormatException e) {
            throw new ConfigException(key + "='" + n.asText() + "' is not a number");
        }
    }

    private static int[] range(ConfigTree t, String key, int min, int max) {
        JsonNode n = t.get(key);
        if (n == null || n.isNull()) return new int[] {min, max};
        String[] parts;
        if (n.isArray()) {
            parts = new String[n.size()];
            for (int i = 0; i < n.size(); i++) parts[i] = n.get(i).asText();
        } else {
            String s = n.asText().trim();
            if (s.startsWith("[") && s.endsWith("]")) s = s.substring(1, s.length() - 1);
            parts = s.split(",");
        }
        if (parts.length != 2) throw new ConfigException(key + "=" + n + ": expected two integers [min, max]");
        try {
            return new int[] {Integer.parseInt(parts[0].trim()), Integer.parseInt(parts[1].trim())};
        } catch (NumberFormatException e) {
            throw new ConfigException(key + "=" + n + ": expected two integers [min, max]");
        }
    }
}
