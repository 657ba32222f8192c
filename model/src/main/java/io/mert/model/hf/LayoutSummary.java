package io.mert.model.hf;

import io.mert.model.ParameterLayout;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Predicate;

/**
 * The parameter layout grouped by module, for people: every tensor with its shape and count, the
 * transformer layers shown once (their shapes repeat), the encoder total (what HF holds) and the
 * pre-training heads apart.
 */
public final class LayoutSummary {

    /** One group of tensors; {@code repeats} > 1 when {@code entries} are layer 0 of identical layers. */
    public record Group(String title, List<ParameterLayout.Entry> entries, int repeats, long parameters) {}

    private static final String LAYERS = "encoder.layers.";

    private LayoutSummary() {
    }

    public static List<Group> groups(ParameterLayout layout) {
        Map<String, Predicate<String>> kinds = new LinkedHashMap<>();
        kinds.put("conv feature extractor", n -> n.startsWith("feature_extractor."));
        kinds.put("feature projection", n -> n.startsWith("feature_projection."));
        kinds.put("mask embedding", n -> n.equals("masked_spec_embed"));
        kinds.put("positional conv (weight norm)", n -> n.startsWith("encoder.pos_conv_embed."));
        kinds.put("encoder layer norm", n -> n.startsWith("encoder.layer_norm."));
        kinds.put("transformer layers", n -> n.startsWith(LAYERS));
        kinds.put("pre-training heads (not part of the HF model)", HfWeights::isPretrainingHead);
        List<Group> out = new ArrayList<>();
        long covered = 0;
        for (Map.Entry<String, Predicate<String>> k : kinds.entrySet()) {
            List<ParameterLayout.Entry> entries = layout.entries().stream().filter(e -> k.getValue().test(e.name())).toList();
            if (entries.isEmpty()) continue;
            long params = entries.stream().mapToLong(ParameterLayout.Entry::size).sum();
            covered += params;
            if (k.getKey().equals("transformer layers")) {
                List<ParameterLayout.Entry> first = entries.stream().filter(e -> e.name().startsWith(LAYERS + "0.")).toList();
                int repeats = entries.size() / first.size();
                out.add(new Group(k.getKey(), first, repeats, params));
            } else {
                out.add(new Group(k.getKey(), entries, 1, params));
            }
        }
        if (covered != layout.totalSize()) throw new IllegalStateException("layout groups cover " + covered + " of " + layout.totalSize());
        return out;
    }

    /** The printable table. */
    public static String format(String title, ParameterLayout layout) {
        StringBuilder sb = new StringBuilder();
        sb.append(title).append('\n');
        for (Group g : groups(layout)) {
            sb.append(String.format(Locale.ROOT, "%n%s%s: %,d parameters%n", g.title(),
                    g.repeats() > 1 ? " (" + g.repeats() + " identical layers, layer 0 shown)" : "", g.parameters()));
            for (ParameterLayout.Entry e : g.entries()) {
                String name = g.repeats() > 1 ? e.name().replaceFirst("^encoder\\.layers\\.0\\.", "encoder.layers.{0.." + (g.repeats() - 1) + "}.") : e.name();
                sb.append(String.format(Locale.ROOT, "  %-64s %-18s %,14d%s%n", name, Arrays.toString(e.shape()), e.size(),
                        g.repeats() > 1 ? " x" + g.repeats() : ""));
            }
        }
        long encoder = HfWeights.hfParameterCount(layout);
        sb.append(String.format(Locale.ROOT, "%nencoder (the HuggingFace model): %,d parameters%n", encoder));
        sb.append(String.format(Locale.ROOT, "pre-training heads:              %,d parameters%n", layout.totalSize() - encoder));
        sb.append(String.format(Locale.ROOT, "total:                           %,d parameters (%.1f MiB as float32)%n",
                layout.totalSize(), layout.totalSize() * 4.0 / (1 << 20)));
        return sb.toString();
    }
}
