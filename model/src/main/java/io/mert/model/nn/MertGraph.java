package io.mert.model.nn;

import io.mert.model.MertConfig;
import io.mert.model.ParameterLayout;
import io.mert.model.config.Precision;
import org.nd4j.autodiff.samediff.SDIndex;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.array.SingleThreadArrayHolder;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One SameDiff graph of the MERT pre-training forward pass for a fixed crop length and a dynamic
 * batch size. Parameter variables are views of the caller's flat buffer (a single-thread array
 * holder keeps them as views; SameDiff's default holder would copy them), so the graph always sees
 * the current parameters. Dropout masks are placeholders because M2.1's in-graph random ops either
 * lack gradients or repeat the same numbers every run.
 */
final class MertGraph {

    static final String WAVE = "in_waveform";
    static final String MASK = "in_mask";
    static final String PENALTY_SCALE = "in_feature_penalty_scale";
    static final String CQT = "in_cqt";
    static final String LABELS = "in_labels_";
    static final String LOSS_SCALE = "in_loss_scale";

    /**
     * A dropout site: placeholder name, drop probability and per-example shape. {@code rescale}: kept values
     * are scaled by 1/(1-p) (inverted dropout); layerdrop keeps a layer's output as it is.
     */
    record DropoutSite(String placeholder, double p, long[] shape, boolean rescale) {
        DropoutSite(String placeholder, double p, long[] shape) {
            this(placeholder, p, shape, true);
        }
    }

    final SameDiff sd;
    final int samples;
    final int frames;
    final String loss;
    final String featurePenalty;
    final String cqtMse;
    final String maskedCount;
    final String[] crossEntropy;
    final String[] correct;
    final String[] hidden;
    final List<DropoutSite> dropouts = new ArrayList<>();
    final List<String> parameterNames = new ArrayList<>();

    private final MertConfig c;
    final Precision precision;
    private final GraphOps ops;
    private final boolean training;
    private final Map<String, SDVariable> p = new HashMap<>();

    MertGraph(MertConfig config, ParameterLayout layout, INDArray flat, int samples, boolean training) {
        this(config, layout, flat, samples, training, Precision.FP32);
    }

    /**
     * @param precision the matrix products' arithmetic; with fp16 a training graph's gradients are those of the loss
     *                  times the {@link #LOSS_SCALE} placeholder
     */
    MertGraph(MertConfig config, ParameterLayout layout, INDArray flat, int samples, boolean training, Precision precision) {
        this.c = config;
        this.precision = precision;
        this.samples = samples;
        this.frames = config.framesFor(samples);
        this.training = training;
        this.sd = SameDiff.create();
        sd.setArrayHolders(new SingleThreadArrayHolder(), new SingleThreadArrayHolder(), false);
        this.ops = new GraphOps(sd, precision.matmulType());
        for (ParameterLayout.Entry e : layout.entries()) {
            // straight onto the view: var(name, type, shape) would first fill a fresh array of the parameter's size
            // (364 MiB for 95M, left resident after it was replaced)
            SDVariable v = sd.var(e.name(), ParameterInit.view(flat, e));
            p.put(e.name(), v);
            parameterNames.add(e.name());
        }

        SDVariable wave = sd.placeHolder(WAVE, DataType.FLOAT, -1, samples);
        SDVariable mask = sd.placeHolder(MASK, DataType.FLOAT, -1, frames);

        SDVariable features = ops.gradMultiply(convExtractor(wave), c.featureGradMult()); // [B,C,F]
        this.featurePenalty = sd.math().square(features).mean().rename("feature_penalty").name();

        int ch = c.extractorChannels();
        int e = c.encoderEmbedDim();
        SDVariable x = features.permute(0, 2, 1);
        x = ops.normalize(x, 2, p.get("feature_projection.layer_norm.weight"), p.get("feature_projection.layer_norm.bias"));
        x = ops.linear(x.reshape(-1, ch), p.get("feature_projection.projection.weight"),
                p.get("feature_projection.projection.bias")).reshape(-1, frames, e);
        x = dropout(x, c.dropoutInput(), "drop_input", frames, e);
        // dropout_features only touches HuBERT's unmasked_features, which no loss uses: nothing to do.

        SDVariable m3 = mask.reshape(-1, frames, 1);
        x = x.mul(m3.rsub(1.0)).add(m3.mul(p.get(MertLayout.MASK_EMBED)));

        List<SDVariable> states = encoder(x);
        this.hidden = new String[states.size()];
        for (int i = 0; i < states.size(); i++) hidden[i] = states.get(i).rename("hidden_" + i).name();
        SDVariable out = states.get(states.size() - 1);

        // Pre-training heads on every frame; the masks below keep masked frames only.
        SDVariable xf = out.reshape(-1, e);
        SDVariable maskFlat = mask.reshape(-1);
        SDVariable n = maskFlat.sum();
        this.maskedCount = n.rename("masked_count").name();
        int streams = c.labelClasses().size();
        int d = c.finalDim();
        SDVariable proj = ops.linear(xf, p.get(MertLayout.FINAL_PROJ + "weight"), p.get(MertLayout.FINAL_PROJ + "bias"));
        SDVariable embs = p.get(MertLayout.LABEL_EMBS);
        this.crossEntropy = new String[streams];
        this.correct = new String[streams];
        SDVariable total = null;
        long offset = 0;
        for (int s = 0; s < streams; s++) {
            int classes = c.labelClasses().get(s);
            SDVariable labels = sd.placeHolder(LABELS + s, DataType.INT, -1);
            SDVariable ys = proj.get(SDIndex.all(), SDIndex.interval((long) s * d, (long) (s + 1) * d));
            SDVariable es = embs.get(SDIndex.interval(offset, offset + classes), SDIndex.all());
            offset += classes;
            SDVariable logits = ops.mmul(unit(ys), unit(es), false, true).div(c.logitTemp());
            SDVariable logProb = ops.logSoftmaxRows(logits);
            SDVariable truth = sd.oneHot(labels, classes, -1, 1.0, 0.0, DataType.FLOAT);
            SDVariable ce = logProb.mul(truth).sum(1).mul(maskFlat).sum().neg().rename("ce_" + s);
            crossEntropy[s] = ce.name();
            SDVariable hit = sd.castTo(sd.eq(sd.castTo(sd.argmax(logits, 1), DataType.INT), labels), DataType.FLOAT);
            correct[s] = hit.mul(maskFlat).sum().rename("correct_" + s).name();
            total = total == null ? ce : total.add(ce);
        }

        SDVariable cqtTarget = sd.placeHolder(CQT, DataType.FLOAT, -1, c.cqtBins());
        SDVariable cqtPred = ops.linear(xf, p.get(MertLayout.CQT_HEAD + "weight"), p.get(MertLayout.CQT_HEAD + "bias"));
        SDVariable sse = sd.math().square(cqtPred.sub(cqtTarget)).sum(1).mul(maskFlat).sum();
        SDVariable mse = sse.div(sd.math().max(n, sd.constant(1f)).mul((double) c.cqtBins())).rename("cqt_mse");
        this.cqtMse = mse.name();

        // fairseq's HuBERT criterion: summed CE plus extra losses scaled by the sample size (masked frames).
        // The feature penalty is a mean over the batch, so its scale comes from outside (see Batch): with
        // a slice of a global batch it is the slice's share of the global sample size.
        SDVariable penaltyScale = sd.placeHolder(PENALTY_SCALE, DataType.FLOAT);
        total = total.add(sd.getVariable(featurePenalty).mul(penaltyScale).mul(c.lossWeights().get(0)))
                .add(mse.mul(n).mul(c.lossWeights().get(1)));
        this.loss = total.rename("loss").name();
        if (training && precision.scalesLoss()) {
            // fp16: the backward pass starts from loss x scale, so that small gradients stay above half's smallest values
            sd.setLossVariables(total.mul(sd.placeHolder(LOSS_SCALE, DataType.FLOAT)).rename("scaled_loss").name());
        } else {
            sd.setLossVariables(loss);
        }
    }

    private SDVariable unit(SDVariable rows) {
        return rows.mul(sd.math().rsqrt(sd.math().square(rows).sum(true, 1).add(1e-16)));
    }

    private SDVariable convExtractor(SDVariable wave) {
        SDVariable x = wave.reshape(-1, 1, samples);
        boolean layerNormMode = MertLayout.isLayerNormMode(c);
        List<MertConfig.ConvLayer> layers = c.convFeatureLayers();
        long length = samples;
        int in = 1;
        for (int i = 0; i < layers.size(); i++) {
            MertConfig.ConvLayer l = layers.get(i);
            String pre = "feature_extractor.conv_layers." + i + ".";
            x = ops.conv1d(x, p.get(pre + "conv.weight"), in, l.channels(), l.kernel(), l.stride(), length);
            length = (length - l.kernel()) / l.stride() + 1;
            in = l.channels();
            if (layerNormMode || i == 0) {
                // group norm with one group per channel normalises over time; layer norm over channels
                x = ops.normalizeChannels(x, layerNormMode ? 1 : 2, p.get(pre + "layer_norm.weight"), p.get(pre + "layer_norm.bias"));
            }
            x = ops.gelu(x);
        }
        return x;
    }

    private List<SDVariable> encoder(SDVariable x) {
        int e = c.encoderEmbedDim();
        x = x.add(positionalConv(x));
        if (!c.layerNormFirst()) x = ops.normalize(x, 2, p.get("encoder.layer_norm.weight"), p.get("encoder.layer_norm.bias"));
        x = dropout(x, c.dropout(), "drop_encoder", frames, e);
        List<SDVariable> states = new ArrayList<>();
        states.add(x);
        for (int i = 0; i < c.encoderLayers(); i++) {
            x = layerDrop(x, layer(x, i), i);
            states.add(x);
        }
        if (c.layerNormFirst()) {
            // HF's stable-layer-norm encoder reports the final-normed output as the last hidden state.
            x = ops.normalize(x, 2, p.get("encoder.layer_norm.weight"), p.get("encoder.layer_norm.bias"));
            states.set(states.size() - 1, x);
        }
        return states;
    }

    /**
     * Grouped conv with weight norm over dim 2, SamePad and GELU, as one batched matmul over im2col columns
     * (M2.1's conv1d has no groups; a conv per group cost 4x more, its backward with a 128-tap kernel most).
     * The columns hold E x k values per output frame, so this trades memory for speed: see docs/benchmarks.md.
     */
    private SDVariable positionalConv(SDVariable x) {
        int e = c.encoderEmbedDim();
        int k = c.convPos();
        int groups = c.convPosGroups();
        int perGroup = e / groups;
        int outFrames = frames + 2 * (k / 2) - k + 1; // one more than frames for an even kernel (SamePad drops it)
        SDVariable v = p.get(MertLayout.POS_CONV + "weight_v");
        SDVariable g = p.get(MertLayout.POS_CONV + "weight_g");
        SDVariable norm = sd.math().sqrt(v.mul(v).sum(true, 0, 1));
        SDVariable w = ops.mulExpanded(v, g.div(norm)); // [E, E/groups, k]
        SDVariable byGroup = Im2ColRows.of(sd, x, new Im2ColRows.Geometry(e, frames, k, 1, k / 2, groups, true)); // [groups, E/groups * k, B * out]
        SDVariable y = ops.mmul(w.reshape(groups, perGroup, perGroup * k), byGroup, false, false) // [groups, E/groups, B * out]
                .reshape(e, -1, outFrames).permute(1, 2, 0); // [B, out, E]
        if (outFrames != frames) y = y.get(SDIndex.all(), SDIndex.interval(0, frames), SDIndex.all());
        return ops.gelu(y.add(p.get(MertLayout.POS_CONV + "bias")));
    }

    private SDVariable layer(SDVariable x, int i) {
        String pre = "encoder.layers." + i + ".";
        int e = c.encoderEmbedDim();
        SDVariable ln1g = p.get(pre + "layer_norm.weight"), ln1b = p.get(pre + "layer_norm.bias");
        SDVariable ln2g = p.get(pre + "final_layer_norm.weight"), ln2b = p.get(pre + "final_layer_norm.bias");
        if (c.layerNormFirst()) {
            SDVariable a = attention(ops.normalize(x, 2, ln1g, ln1b), pre, i);
            x = x.add(dropout(a, c.dropout(), "drop_attn_out_" + i, frames, e));
            SDVariable f = feedForward(ops.normalize(x, 2, ln2g, ln2b), pre, i);
            return x.add(dropout(f, c.dropout(), "drop_ffn_out_" + i, frames, e));
        }
        SDVariable a = attention(x, pre, i);
        x = ops.normalize(x.add(dropout(a, c.dropout(), "drop_attn_out_" + i, frames, e)), 2, ln1g, ln1b);
        SDVariable f = feedForward(x, pre, i);
        return ops.normalize(x.add(dropout(f, c.dropout(), "drop_ffn_out_" + i, frames, e)), 2, ln2g, ln2b);
    }

    private SDVariable attention(SDVariable x, String pre, int i) {
        int e = c.encoderEmbedDim();
        int h = c.encoderAttentionHeads();
        int dh = e / h;
        String a = pre + "attention.";
        SDVariable x2 = x.reshape(-1, e);
        SDVariable q = heads(ops.linear(x2, p.get(a + "q_proj.weight"), p.get(a + "q_proj.bias")).mul(1.0 / Math.sqrt(dh)));
        SDVariable k = heads(ops.linear(x2, p.get(a + "k_proj.weight"), p.get(a + "k_proj.bias")));
        SDVariable v = heads(ops.linear(x2, p.get(a + "v_proj.weight"), p.get(a + "v_proj.bias")));
        SDVariable scores = ops.mmul(q, k, false, true);
        if (c.attentionRelax() > 0) {
            // MERT's attention_relax (for fp16 range): (s / r - max(s / r)) * r before the softmax. The same
            // probabilities as a plain softmax in exact arithmetic; spelled out so rounding follows MERT's.
            SDVariable relaxed = scores.div(c.attentionRelax());
            scores = relaxed.sub(relaxed.max(true, 3)).mul(c.attentionRelax());
        }
        SDVariable probs = sd.nn().softmax(scores, 3);
        probs = dropout(probs, c.attentionDropout(), "drop_attn_" + i, h, frames, frames);
        SDVariable ctx = ops.mmul(probs, v, false, false).permute(0, 2, 1, 3).reshape(-1, e);
        return ops.linear(ctx, p.get(a + "out_proj.weight"), p.get(a + "out_proj.bias")).reshape(-1, frames, e);
    }

    /** [B*F, E] to [B, H, F, Dh]. */
    private SDVariable heads(SDVariable x2) {
        int h = c.encoderAttentionHeads();
        return x2.reshape(-1, frames, h, c.encoderEmbedDim() / h).permute(0, 2, 1, 3);
    }

    private SDVariable feedForward(SDVariable x, String pre, int i) {
        int e = c.encoderEmbedDim();
        int ffn = c.encoderFfnEmbedDim();
        String f = pre + "feed_forward.";
        SDVariable hdn = ops.gelu(ops.linear(x.reshape(-1, e), p.get(f + "intermediate_dense.weight"),
                p.get(f + "intermediate_dense.bias")));
        hdn = dropout(hdn.reshape(-1, frames, ffn), c.activationDropout(), "drop_activation_" + i, frames, ffn);
        return ops.linear(hdn.reshape(-1, ffn), p.get(f + "output_dense.weight"), p.get(f + "output_dense.bias"))
                .reshape(-1, frames, e);
    }

    /**
     * fairseq's encoder layerdrop, drawn per clip: a dropped layer passes its input through unchanged
     * ({@code x + keep * (layer(x) - x)}, keep 0 or 1). fairseq draws once per GPU batch; a draw per clip
     * keeps the expected update the same and, like every random choice here, independent of how the
     * global batch is split across workers. The layer is still computed (a static graph).
     */
    private SDVariable layerDrop(SDVariable input, SDVariable output, int i) {
        if (!training || c.encoderLayerdrop() <= 0) return output;
        String name = "layerdrop_" + i;
        dropouts.add(new DropoutSite(name, c.encoderLayerdrop(), new long[] {1, 1}, false));
        return input.add(output.sub(input).mul(sd.placeHolder(name, DataType.FLOAT, -1, 1, 1)));
    }

    /** Multiplies by a mask placeholder (0 or 1/(1-p)) in the training graph; identity otherwise. */
    private SDVariable dropout(SDVariable x, double prob, String name, long... shape) {
        if (!training || prob <= 0) return x;
        long[] full = new long[shape.length + 1];
        full[0] = -1;
        System.arraycopy(shape, 0, full, 1, shape.length);
        dropouts.add(new DropoutSite(name, prob, shape.clone()));
        return x.mul(sd.placeHolder(name, DataType.FLOAT, full));
    }
}
