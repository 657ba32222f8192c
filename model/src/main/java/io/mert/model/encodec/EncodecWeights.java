package io.mert.model.encodec;

import io.mert.model.checkpoint.CheckpointFormatException;
import io.mert.model.checkpoint.FloatTensor;
import io.mert.model.checkpoint.SafeTensors;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Loads {@link EncodecEncoder} from a safetensors file in the layout of HuggingFace's
 * {@code facebook/encodec_24khz} {@code model.safetensors} (transformers' {@code EncodecModel} key
 * names). Only the encoder and the codebooks are read; the decoder and the codebooks' training
 * buffers are ignored. Widths come from the tensor shapes, so a narrower model of the same
 * architecture loads too; the structure is the 24 kHz model's:
 *
 * <pre>
 * encoder.layers.0.conv                 first conv, 1 input channel
 * encoder.layers.{1,4,7,10}.block.1.conv residual block: kernel-3 conv to half width
 * encoder.layers.{1,4,7,10}.block.3.conv   1x1 conv back; .shortcut.conv 1x1 shortcut
 * encoder.layers.{3,6,9,12}.conv        downsampling conv, kernel 2*stride (strides 2, 4, 5, 8)
 * encoder.layers.13.lstm.{weight,bias}_{ih,hh}_l{k}   LSTM with skip
 * encoder.layers.15.conv                last conv to the embedding width
 * quantizer.layers.{q}.codebook.embed   [1024, width] per codebook
 * </pre>
 *
 * Each conv is weight-normed: {@code weight_g} [out,1,1] and {@code weight_v} [out,in,k] (or torch's
 * parametrized names {@code parametrizations.weight.original0/1}, or a plain {@code weight}), plus
 * {@code bias}; the effective weight is {@code g * v / ||v||}, the norm over each output channel.
 */
public final class EncodecWeights {
    /** Where users get the weights. */
    public static final String DOWNLOAD_URL = "https://huggingface.co/facebook/encodec_24khz/blob/main/model.safetensors";
    static final int[] RESBLOCK_LAYERS = {1, 4, 7, 10};
    static final int[] DOWNSAMPLE_LAYERS = {3, 6, 9, 12};
    static final int FIRST_LAYER = 0;
    static final int LSTM_LAYER = 13;
    static final int LAST_LAYER = 15;
    /** 24 kHz / 75 Hz. */
    static final int HOP_24KHZ = 320;

    private EncodecWeights() {}

    /** Reads and checks the weights; the encoder runs pieces of the default length. */
    public static EncodecEncoder load(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new CheckpointFormatException("EnCodec weights " + file + " do not exist: download model.safetensors of "
                    + "facebook/encodec_24khz (" + DOWNLOAD_URL + ")");
        }
        Map<String, FloatTensor> t = SafeTensors.readSelected(file,
                n -> n.startsWith("encoder.") || (n.startsWith("quantizer.layers.") && n.endsWith(".codebook.embed")));
        return new Reader(file, t).encoder();
    }

    /**
     * The tensor names {@link #load} reads from a full-size file with {@code codebooks} codebooks, in
     * the weight-norm spelling ({@code weight_g}/{@code weight_v}) of the published file.
     */
    public static List<String> expectedKeys(int lstmLayers, int codebooks) {
        List<String> keys = new ArrayList<>();
        for (String conv : convPrefixes()) for (String p : List.of("weight_g", "weight_v", "bias")) keys.add(conv + p);
        for (int l = 0; l < lstmLayers; l++) {
            for (String p : List.of("weight_ih_l", "weight_hh_l", "bias_ih_l", "bias_hh_l")) {
                keys.add("encoder.layers." + LSTM_LAYER + ".lstm." + p + l);
            }
        }
        for (int q = 0; q < codebooks; q++) keys.add("quantizer.layers." + q + ".codebook.embed");
        return keys;
    }

    private static List<String> convPrefixes() {
        List<String> p = new ArrayList<>();
        p.add("encoder.layers." + FIRST_LAYER + ".conv.");
        for (int s = 0; s < RESBLOCK_LAYERS.length; s++) {
            String r = "encoder.layers." + RESBLOCK_LAYERS[s] + ".";
            p.add(r + "block.1.conv.");
            p.add(r + "block.3.conv.");
            p.add(r + "shortcut.conv.");
            p.add("encoder.layers." + DOWNSAMPLE_LAYERS[s] + ".conv.");
        }
        p.add("encoder.layers." + LAST_LAYER + ".conv.");
        return p;
    }

    /** Builds the encoder from the tensors, checking names and shapes with messages that name the key. */
    private static final class Reader {
        private final Path file;
        private final Map<String, FloatTensor> tensors;

        Reader(Path file, Map<String, FloatTensor> tensors) {
            this.file = file;
            this.tensors = tensors;
        }

        EncodecEncoder encoder() throws IOException {
            if (tensors.keySet().stream().anyMatch(n -> n.matches("encoder\\.layers\\.\\d+\\.norm\\..*"))) {
                throw error("has group-norm tensors (encoder.layers.N.norm.*): that is the 48 kHz EnCodec; MERT's teacher is "
                        + "the 24 kHz model");
            }
            CausalConv1d first = conv("encoder.layers." + FIRST_LAYER + ".conv", -1, 1, 1);
            if (first.in != 1) {
                throw error("encoder.layers.0.conv takes " + first.in + " audio channels; the 24 kHz model is mono (1)");
            }
            int width = first.out;
            EncodecEncoder.ResBlock[] blocks = new EncodecEncoder.ResBlock[RESBLOCK_LAYERS.length];
            CausalConv1d[] down = new CausalConv1d[DOWNSAMPLE_LAYERS.length];
            for (int s = 0; s < blocks.length; s++) {
                String r = "encoder.layers." + RESBLOCK_LAYERS[s] + ".";
                CausalConv1d c1 = conv(r + "block.1.conv", width, 1, 1);
                CausalConv1d c2 = conv(r + "block.3.conv", c1.out, 1, 1);
                CausalConv1d sc = conv(r + "shortcut.conv", width, 1, 1);
                requireOut(r + "block.3.conv", c2, width);
                requireOut(r + "shortcut.conv", sc, width);
                if (sc.kernel != 1) throw error(r + "shortcut.conv has kernel " + sc.kernel + ", expected 1");
                blocks[s] = new EncodecEncoder.ResBlock(c1, c2, sc);
                String d = "encoder.layers." + DOWNSAMPLE_LAYERS[s] + ".conv";
                int kernel = (int) shape(d, "weight_v", "parametrizations.weight.original1", "weight")[2];
                if (kernel % 2 != 0) throw error(d + " has kernel " + kernel + "; SEANet downsampling kernels are 2 x stride");
                down[s] = conv(d, width, kernel / 2, 1);
                width = down[s].out;
            }
            SkipLstm lstm = lstm(width);
            CausalConv1d last = conv("encoder.layers." + LAST_LAYER + ".conv", width, 1, 1);
            ResidualVectorQuantizer rvq = quantizer(last.out);
            EncodecEncoder enc = new EncodecEncoder(first, blocks, down, lstm, last, rvq, EncodecEncoder.DEFAULT_CHUNK_FRAMES);
            if (enc.hop() != HOP_24KHZ) {
                throw error("downsamples by " + enc.hop() + " samples per frame; the 24 kHz model's strides 2,4,5,8 give "
                        + HOP_24KHZ + " (75 Hz)");
            }
            return enc;
        }

        private CausalConv1d conv(String prefix, int in, int stride, int dilation) throws IOException {
            FloatTensor bias = require(prefix + ".bias");
            float[] w;
            long[] shape;
            String g = firstPresent(prefix + ".weight_g", prefix + ".parametrizations.weight.original0");
            String v = firstPresent(prefix + ".weight_v", prefix + ".parametrizations.weight.original1");
            if (g != null && v != null) {
                FloatTensor gt = require(g), vt = require(v);
                shape = vt.shape();
                requireRank(v, shape, 3);
                if (gt.shape().length != 3 || gt.shape()[0] != shape[0] || gt.shape()[1] != 1 || gt.shape()[2] != 1) {
                    throw error(g + " has shape " + Arrays.toString(gt.shape()) + ", expected [" + shape[0] + ", 1, 1]");
                }
                w = weightNorm(gt.data(), vt.data(), (int) shape[0]);
            } else if (tensors.containsKey(prefix + ".weight")) {
                FloatTensor wt = require(prefix + ".weight");
                shape = wt.shape();
                requireRank(prefix + ".weight", shape, 3);
                w = wt.data();
            } else {
                throw missing(prefix + ".weight_g / " + prefix + ".weight_v");
            }
            int out = (int) shape[0], cin = (int) shape[1], k = (int) shape[2];
            if (in >= 0 && cin != in) {
                throw error(prefix + " takes " + cin + " input channels but the layer before gives " + in);
            }
            if (bias.shape().length != 1 || bias.shape()[0] != out) {
                throw error(prefix + ".bias has shape " + Arrays.toString(bias.shape()) + ", expected [" + out + "]");
            }
            if (k < stride) throw error(prefix + " has kernel " + k + " shorter than its stride " + stride);
            return new CausalConv1d(cin, out, k, stride, dilation, w, bias.data());
        }

        private SkipLstm lstm(int width) throws IOException {
            String p = "encoder.layers." + LSTM_LAYER + ".lstm.";
            List<float[]> wih = new ArrayList<>(), whh = new ArrayList<>(), bih = new ArrayList<>(), bhh = new ArrayList<>();
            for (int l = 0; tensors.containsKey(p + "weight_ih_l" + l) || l == 0; l++) {
                wih.add(matrix(p + "weight_ih_l" + l, 4L * width, width));
                whh.add(matrix(p + "weight_hh_l" + l, 4L * width, width));
                bih.add(vector(p + "bias_ih_l" + l, 4L * width));
                bhh.add(vector(p + "bias_hh_l" + l, 4L * width));
            }
            return new SkipLstm(width, wih.toArray(float[][]::new), whh.toArray(float[][]::new), bih.toArray(float[][]::new),
                    bhh.toArray(float[][]::new));
        }

        private ResidualVectorQuantizer quantizer(int dim) throws IOException {
            List<float[]> books = new ArrayList<>();
            long bins = -1;
            for (int q = 0; tensors.containsKey("quantizer.layers." + q + ".codebook.embed") || q == 0; q++) {
                String name = "quantizer.layers." + q + ".codebook.embed";
                FloatTensor e = require(name);
                if (bins < 0 && e.shape().length == 2) bins = e.shape()[0];
                books.add(matrix(name, bins, dim));
            }
            if (bins < 2) throw error("quantizer.layers.0.codebook.embed has " + bins + " codes");
            return new ResidualVectorQuantizer(dim, (int) bins, books.toArray(float[][]::new));
        }

        private float[] matrix(String name, long rows, long cols) throws IOException {
            FloatTensor t = require(name);
            if (t.shape().length != 2 || t.shape()[0] != rows || t.shape()[1] != cols) {
                throw error(name + " has shape " + Arrays.toString(t.shape()) + ", expected [" + rows + ", " + cols + "]");
            }
            return t.data();
        }

        private float[] vector(String name, long n) throws IOException {
            FloatTensor t = require(name);
            if (t.shape().length != 1 || t.shape()[0] != n) {
                throw error(name + " has shape " + Arrays.toString(t.shape()) + ", expected [" + n + "]");
            }
            return t.data();
        }

        private long[] shape(String prefix, String... suffixes) throws IOException {
            for (String s : suffixes) {
                FloatTensor t = tensors.get(prefix + "." + s);
                if (t != null) {
                    requireRank(prefix + "." + s, t.shape(), 3);
                    return t.shape();
                }
            }
            throw missing(prefix + ".weight_v");
        }

        private String firstPresent(String... names) {
            for (String n : names) if (tensors.containsKey(n)) return n;
            return null;
        }

        private FloatTensor require(String name) throws IOException {
            FloatTensor t = tensors.get(name);
            if (t == null) throw missing(name);
            return t;
        }

        private void requireRank(String name, long[] shape, int rank) throws IOException {
            if (shape.length != rank) throw error(name + " has shape " + Arrays.toString(shape) + ", expected rank " + rank);
        }

        private void requireOut(String name, CausalConv1d c, int out) throws IOException {
            if (c.out != out) throw error(name + " gives " + c.out + " channels, expected " + out);
        }

        private CheckpointFormatException missing(String name) {
            return error("has no tensor '" + name + "'");
        }

        private CheckpointFormatException error(String what) {
            return new CheckpointFormatException("EnCodec weights " + file + " " + what + ". Expected the layout of "
                    + "HuggingFace facebook/encodec_24khz model.safetensors (transformers EncodecModel names: "
                    + "encoder.layers.N.conv.weight_g/weight_v/bias, encoder.layers.13.lstm.*, "
                    + "quantizer.layers.N.codebook.embed), downloadable from " + DOWNLOAD_URL);
        }
    }

    /** w = g * v / ||v||, the norm over everything but the output channel (torch's weight_norm, dim 0). */
    static float[] weightNorm(float[] g, float[] v, int out) {
        int per = v.length / out;
        float[] w = new float[v.length];
        for (int o = 0; o < out; o++) {
            double ss = 0;
            for (int k = 0; k < per; k++) ss += (double) v[o * per + k] * v[o * per + k];
            double scale = g[o] / Math.sqrt(ss);
            for (int k = 0; k < per; k++) w[o * per + k] = (float) (v[o * per + k] * scale);
        }
        return w;
    }
}
