package io.mert.model.nn;

import io.mert.model.Batch;
import io.mert.model.MertConfig;
import io.mert.model.ParameterLayout;

import java.util.List;

/**
 * An independent, loop-by-loop float64 evaluation of the MERT forward pass and loss, written from
 * the PyTorch/fairseq definitions (no ND4J), to check what the SameDiff graph computes.
 */
final class ReferenceMert {

    record Result(double loss, double[] ce, int[] correct, double penalty, double cqtMse, int masked,
                  double[][][] hiddenOfFirstClip) {}

    private final MertConfig c;
    private final ParameterLayout layout;
    private final float[] params;

    ReferenceMert(MertConfig c, ParameterLayout layout, float[] params) {
        this.c = c;
        this.layout = layout;
        this.params = params;
    }

    private double[] p(String name) {
        ParameterLayout.Entry e = layout.get(name);
        double[] out = new double[(int) e.size()];
        for (int i = 0; i < out.length; i++) out[i] = params[(int) e.offset() + i];
        return out;
    }

    Result forward(Batch b) {
        int frames = b.frames();
        int e = c.encoderEmbedDim();
        int streams = c.labelClasses().size();
        double penSum = 0;
        long penCount = 0;
        double[] ce = new double[streams];
        int[] correct = new int[streams];
        double cqtSse = 0;
        int masked = 0;
        double[][][] firstHidden = null;
        for (int clip = 0; clip < b.size(); clip++) {
            double[][] x = new double[1][b.samples()];
            for (int t = 0; t < b.samples(); t++) x[0][t] = b.waveforms()[clip * b.samples() + t];
            List<MertConfig.ConvLayer> convs = c.convFeatureLayers();
            boolean lnMode = "layer_norm".equals(c.extractorMode());
            for (int i = 0; i < convs.size(); i++) {
                MertConfig.ConvLayer l = convs.get(i);
                String pre = "feature_extractor.conv_layers." + i + ".";
                x = conv(x, p(pre + "conv.weight"), l.channels(), l.kernel(), l.stride(), 0, 1, null);
                if (lnMode) x = transpose(layerNormRows(transpose(x), p(pre + "layer_norm.weight"), p(pre + "layer_norm.bias")));
                else if (i == 0) x = layerNormRows(x, p(pre + "layer_norm.weight"), p(pre + "layer_norm.bias"), true);
                gelu(x);
            }
            for (double[] row : x) for (double v : row) { penSum += v * v; penCount++; }
            double[][] h = layerNormRows(transpose(x), p("feature_projection.layer_norm.weight"), p("feature_projection.layer_norm.bias"));
            h = linear(h, p("feature_projection.projection.weight"), p("feature_projection.projection.bias"), e);
            double[] emb = p(MertLayout.MASK_EMBED);
            for (int t = 0; t < frames; t++) if (b.mask()[clip * frames + t] != 0) h[t] = emb.clone();
            double[][] pos = transpose(posConv(transpose(h)));
            for (int t = 0; t < frames; t++) for (int j = 0; j < e; j++) h[t][j] += pos[t][j];
            double[][][] hidden = new double[c.encoderLayers() + 1][][];
            if (!c.layerNormFirst()) h = layerNormRows(h, p("encoder.layer_norm.weight"), p("encoder.layer_norm.bias"));
            hidden[0] = h;
            for (int li = 0; li < c.encoderLayers(); li++) {
                h = layer(h, li);
                hidden[li + 1] = h;
            }
            if (c.layerNormFirst()) {
                h = layerNormRows(h, p("encoder.layer_norm.weight"), p("encoder.layer_norm.bias"));
                hidden[c.encoderLayers()] = h;
            }
            if (clip == 0) firstHidden = hidden;
            double[][] proj = linear(h, p(MertLayout.FINAL_PROJ + "weight"), p(MertLayout.FINAL_PROJ + "bias"),
                    c.finalDim() * streams);
            double[][] cqt = linear(h, p(MertLayout.CQT_HEAD + "weight"), p(MertLayout.CQT_HEAD + "bias"), c.cqtBins());
            double[] embs = p(MertLayout.LABEL_EMBS);
            for (int t = 0; t < frames; t++) {
                int idx = clip * frames + t;
                if (b.mask()[idx] == 0) continue;
                masked++;
                int offset = 0;
                for (int s = 0; s < streams; s++) {
                    int classes = c.labelClasses().get(s);
                    int d = c.finalDim();
                    double[] logits = new double[classes];
                    for (int k = 0; k < classes; k++) {
                        double dot = 0, nx = 0, ny = 0;
                        for (int j = 0; j < d; j++) {
                            double xv = proj[t][s * d + j], yv = embs[(offset + k) * d + j];
                            dot += xv * yv;
                            nx += xv * xv;
                            ny += yv * yv;
                        }
                        logits[k] = dot / Math.sqrt(nx) / Math.sqrt(ny) / c.logitTemp();
                    }
                    int label = b.labels()[s][idx];
                    double max = Double.NEGATIVE_INFINITY;
                    int arg = -1;
                    for (int k = 0; k < classes; k++) if (logits[k] > max) { max = logits[k]; arg = k; }
                    double z = 0;
                    for (double v : logits) z += Math.exp(v - max);
                    ce[s] += Math.log(z) + max - logits[label];
                    if (arg == label) correct[s]++;
                    offset += classes;
                }
                for (int j = 0; j < c.cqtBins(); j++) {
                    double diff = cqt[t][j] - b.cqt()[idx * c.cqtBins() + j];
                    cqtSse += diff * diff;
                }
            }
        }
        double pen = penSum / penCount;
        double mse = cqtSse / (Math.max(masked, 1) * (double) c.cqtBins());
        double loss = c.lossWeights().get(0) * pen * masked + c.lossWeights().get(1) * mse * masked;
        for (double v : ce) loss += v;
        return new Result(loss, ce, correct, pen, mse, masked, firstHidden);
    }

    private double[][] layer(double[][] x, int i) {
        String pre = "encoder.layers." + i + ".";
        double[] g1 = p(pre + "layer_norm.weight"), b1 = p(pre + "layer_norm.bias");
        double[] g2 = p(pre + "final_layer_norm.weight"), b2 = p(pre + "final_layer_norm.bias");
        if (c.layerNormFirst()) {
            x = add(x, attention(layerNormRows(x, g1, b1), pre));
            return add(x, ffn(layerNormRows(x, g2, b2), pre));
        }
        x = layerNormRows(add(x, attention(x, pre)), g1, b1);
        return layerNormRows(add(x, ffn(x, pre)), g2, b2);
    }

    private double[][] attention(double[][] x, String pre) {
        int e = c.encoderEmbedDim(), heads = c.encoderAttentionHeads(), dh = e / heads, n = x.length;
        String a = pre + "attention.";
        double[][] q = linear(x, p(a + "q_proj.weight"), p(a + "q_proj.bias"), e);
        double[][] k = linear(x, p(a + "k_proj.weight"), p(a + "k_proj.bias"), e);
        double[][] v = linear(x, p(a + "v_proj.weight"), p(a + "v_proj.bias"), e);
        double[][] ctx = new double[n][e];
        for (int hd = 0; hd < heads; hd++) {
            for (int t = 0; t < n; t++) {
                double[] s = new double[n];
                double max = Double.NEGATIVE_INFINITY;
                for (int u = 0; u < n; u++) {
                    double dot = 0;
                    for (int j = 0; j < dh; j++) dot += q[t][hd * dh + j] * k[u][hd * dh + j];
                    s[u] = dot / Math.sqrt(dh);
                    max = Math.max(max, s[u]);
                }
                double z = 0;
                for (int u = 0; u < n; u++) { s[u] = Math.exp(s[u] - max); z += s[u]; }
                for (int u = 0; u < n; u++) for (int j = 0; j < dh; j++) ctx[t][hd * dh + j] += s[u] / z * v[u][hd * dh + j];
            }
        }
        return linear(ctx, p(a + "out_proj.weight"), p(a + "out_proj.bias"), e);
    }

    private double[][] ffn(double[][] x, String pre) {
        String f = pre + "feed_forward.";
        double[][] h = linear(x, p(f + "intermediate_dense.weight"), p(f + "intermediate_dense.bias"), c.encoderFfnEmbedDim());
        gelu(h);
        return linear(h, p(f + "output_dense.weight"), p(f + "output_dense.bias"), c.encoderEmbedDim());
    }

    /** x [E][F] -> grouped conv with weight norm (dim 2), padding k/2, last frame dropped for even k. */
    private double[][] posConv(double[][] x) {
        int e = c.encoderEmbedDim(), k = c.convPos(), groups = c.convPosGroups(), eg = e / groups;
        double[] v = p(MertLayout.POS_CONV + "weight_v"), g = p(MertLayout.POS_CONV + "weight_g");
        double[] w = new double[v.length];
        for (int kk = 0; kk < k; kk++) {
            double norm = 0;
            for (int o = 0; o < e; o++) for (int i = 0; i < eg; i++) norm += v[(o * eg + i) * k + kk] * v[(o * eg + i) * k + kk];
            norm = Math.sqrt(norm);
            for (int o = 0; o < e; o++) for (int i = 0; i < eg; i++) w[(o * eg + i) * k + kk] = g[kk] * v[(o * eg + i) * k + kk] / norm;
        }
        double[][] y = conv(x, w, e, k, 1, k / 2, groups, p(MertLayout.POS_CONV + "bias"));
        int frames = x[0].length;
        double[][] out = new double[e][frames];
        for (int o = 0; o < e; o++) System.arraycopy(y[o], 0, out[o], 0, frames);
        gelu(out);
        return out;
    }

    /** PyTorch Conv1d on x [in][T], weight [out][in/groups][k]. */
    private static double[][] conv(double[][] x, double[] w, int out, int k, int stride, int pad, int groups, double[] bias) {
        int in = x.length, len = x[0].length, ig = in / groups, og = out / groups;
        int outLen = (len + 2 * pad - k) / stride + 1;
        double[][] y = new double[out][outLen];
        for (int o = 0; o < out; o++) {
            int grp = o / og;
            for (int t = 0; t < outLen; t++) {
                double s = bias == null ? 0 : bias[o];
                for (int i = 0; i < ig; i++) {
                    double[] xi = x[grp * ig + i];
                    for (int kk = 0; kk < k; kk++) {
                        int src = t * stride + kk - pad;
                        if (src >= 0 && src < len) s += w[(o * ig + i) * k + kk] * xi[src];
                    }
                }
                y[o][t] = s;
            }
        }
        return y;
    }

    private static double[][] layerNormRows(double[][] x, double[] g, double[] b) {
        return layerNormRows(x, g, b, false);
    }

    /** Normalises each row of x; the gain/bias index is the column, or the row when perRowAffine. */
    private static double[][] layerNormRows(double[][] x, double[] g, double[] b, boolean perRowAffine) {
        double[][] y = new double[x.length][];
        for (int r = 0; r < x.length; r++) {
            double mean = 0, var = 0;
            for (double v : x[r]) mean += v;
            mean /= x[r].length;
            for (double v : x[r]) var += (v - mean) * (v - mean);
            var /= x[r].length;
            double inv = 1 / Math.sqrt(var + 1e-5);
            y[r] = new double[x[r].length];
            for (int j = 0; j < x[r].length; j++) {
                int a = perRowAffine ? r : j;
                y[r][j] = (x[r][j] - mean) * inv * g[a] + b[a];
            }
        }
        return y;
    }

    private static double[][] linear(double[][] x, double[] w, double[] b, int out) {
        int in = x[0].length;
        double[][] y = new double[x.length][out];
        for (int r = 0; r < x.length; r++)
            for (int o = 0; o < out; o++) {
                double s = b[o];
                for (int i = 0; i < in; i++) s += w[o * in + i] * x[r][i];
                y[r][o] = s;
            }
        return y;
    }

    private static double[][] add(double[][] a, double[][] b) {
        double[][] y = new double[a.length][a[0].length];
        for (int r = 0; r < a.length; r++) for (int j = 0; j < a[0].length; j++) y[r][j] = a[r][j] + b[r][j];
        return y;
    }

    private static double[][] transpose(double[][] x) {
        double[][] y = new double[x[0].length][x.length];
        for (int r = 0; r < x.length; r++) for (int j = 0; j < x[0].length; j++) y[j][r] = x[r][j];
        return y;
    }

    private static void gelu(double[][] x) {
        for (double[] row : x) for (int j = 0; j < row.length; j++) row[j] = 0.5 * row[j] * (1 + erf(row[j] / Math.sqrt(2)));
    }

    /** erf by its Maclaurin series (|x| < 3) or continued fraction of erfc, accurate to ~1e-14. */
    static double erf(double x) {
        double ax = Math.abs(x);
        double r;
        if (ax < 3) {
            double term = ax, sum = ax, x2 = ax * ax;
            for (int n = 1; n < 200 && Math.abs(term) > 1e-17; n++) {
                term *= -x2 / n;
                sum += term / (2 * n + 1);
            }
            r = 2 / Math.sqrt(Math.PI) * sum;
        } else {
            double f = 0; // Lentz-free backward evaluation of erfc's continued fraction
            for (int n = 60; n >= 1; n--) f = n / 2.0 / (ax + f);
            r = 1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
        }
        return x < 0 ? -r : r;
    }
}
