package io.mert.model.nn;

import io.mert.model.ParameterLayout;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;
import java.util.SplittableRandom;

/**
 * Deterministic fairseq/HuBERT-style initialisation. Values come from pure-Java generators (one
 * {@link SplittableRandom} per tensor, seeded from the init seed and the tensor's index, normal
 * samples via Box-Muller with {@link StrictMath}), so the same seed gives bit-identical parameters
 * on every worker, JVM and CPU.
 * <ul>
 *   <li>conv extractor: kaiming normal (fan-in, gain sqrt 2), as fairseq's ConvFeatureExtractionModel;</li>
 *   <li>transformer linears: normal(0, 0.02), zero bias ({@code init_bert_params});</li>
 *   <li>post_extract_proj, final_proj, CQT head: PyTorch's default Linear init, U(+-1/sqrt(fan_in));</li>
 *   <li>positional conv: v ~ normal(0, sqrt(4/(k*dim))), g = |v| per kernel tap (weight norm), zero bias;</li>
 *   <li>mask embedding and label embeddings: U(0,1), as MERT's {@code uniform_()};</li>
 *   <li>norms: ones and zeros.</li>
 * </ul>
 */
public final class ParameterInit {

    private ParameterInit() {
    }

    public static void initialize(ParameterLayout layout, INDArray flat, long seed) {
        List<ParameterLayout.Entry> entries = layout.entries();
        for (int i = 0; i < entries.size(); i++) {
            ParameterLayout.Entry e = entries.get(i);
            if (e.name().endsWith("weight_g")) continue; // derived from weight_v below
            float[] values = values(e, layout, new SplittableRandom(mix(seed, i)));
            view(flat, e).assign(Nd4j.createFromArray(values).reshape('c', e.shape()));
        }
        for (ParameterLayout.Entry e : entries) {
            if (!e.name().endsWith("weight_g")) continue;
            String vName = e.name().substring(0, e.name().length() - 1) + "v";
            INDArray v = view(flat, layout.get(vName));
            // weight_norm(dim=2): g[k] = || v[:, :, k] ||
            INDArray g = v.castTo(DataType.DOUBLE).norm2(0, 1).castTo(DataType.FLOAT);
            view(flat, e).assign(g.reshape('c', e.shape()));
        }
    }

    /** The view of {@code flat} that holds {@code e}, in HF shape. */
    public static INDArray view(INDArray flat, ParameterLayout.Entry e) {
        return flat.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(e.offset(), e.offset() + e.size()))
                .reshape('c', e.shape());
    }

    private static float[] values(ParameterLayout.Entry e, ParameterLayout layout, SplittableRandom rng) {
        String n = e.name();
        long[] s = e.shape();
        int size = Math.toIntExact(e.size());
        float[] out = new float[size];
        if (n.endsWith("layer_norm.weight")) {
            java.util.Arrays.fill(out, 1f);
        } else if (n.endsWith("layer_norm.bias")) {
            // zeros
        } else if (n.contains("feature_extractor.conv_layers.") && n.endsWith("conv.weight")) {
            fillNormal(out, rng, Math.sqrt(2.0 / (s[1] * s[2])));
        } else if (n.endsWith("weight_v")) {
            fillNormal(out, rng, Math.sqrt(4.0 / (s[2] * s[0])));
        } else if (n.equals(MertLayout.POS_CONV + "bias")) {
            // zeros
        } else if (n.equals(MertLayout.MASK_EMBED) || n.equals(MertLayout.LABEL_EMBS)) {
            for (int i = 0; i < size; i++) out[i] = (float) rng.nextDouble();
        } else if (n.startsWith("encoder.layers.")) {
            if (n.endsWith(".weight")) fillNormal(out, rng, 0.02);
        } else if (n.startsWith("feature_projection.projection.") || n.startsWith(MertLayout.FINAL_PROJ)
                || n.startsWith(MertLayout.CQT_HEAD)) {
            // a bias shares its weight's fan-in, as torch.nn.Linear.reset_parameters does
            long fanIn = n.endsWith(".weight") ? s[1]
                    : layout.get(n.substring(0, n.length() - "bias".length()) + "weight").shape()[1];
            double bound = 1.0 / Math.sqrt(fanIn);
            for (int i = 0; i < size; i++) out[i] = (float) ((rng.nextDouble() * 2 - 1) * bound);
        } else {
            throw new IllegalStateException("no initialiser for parameter " + n);
        }
        return out;
    }

    private static void fillNormal(float[] out, SplittableRandom rng, double std) {
        for (int i = 0; i < out.length; i += 2) {
            double u1 = 1.0 - rng.nextDouble(); // (0,1]
            double u2 = rng.nextDouble();
            double r = StrictMath.sqrt(-2.0 * StrictMath.log(u1));
            out[i] = (float) (std * r * StrictMath.cos(2 * Math.PI * u2));
            if (i + 1 < out.length) out[i + 1] = (float) (std * r * StrictMath.sin(2 * Math.PI * u2));
        }
    }

    private static long mix(long seed, int index) {
        long z = seed + 0x9E3779B97F4A7C15L * (index + 1L);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
