package io.mert.model.encodec;

import java.util.Arrays;

/**
 * The encoder half of EnCodec 24 kHz (SEANet encoder + residual vector quantiser), the acoustic
 * teacher of MERT: mono 24 kHz audio in, one frame per {@link #hop()} samples (320, so 75 Hz) out,
 * either the continuous embedding ({@link #embed}) or the codebook indices ({@link #codes}; MERT uses
 * 8 codebooks of 1024 codes, EnCodec's 6 kbps setting). The whole file is one segment and the audio
 * is not normalised, as {@code EncodecModel.encodec_model_24khz()} does.
 *
 * <p>Long audio is run in pieces of {@link #chunkFrames} frames so memory stays bounded: every
 * convolution is causal, so a piece that starts {@link #CONTEXT_FRAMES} frames early (more than the
 * 478-sample reach of the convolutions before the LSTM) reproduces the whole-signal frames exactly;
 * the LSTM state and the last convolution's input history are carried from piece to piece.
 * Instances are immutable and safe to share between threads.
 */
public final class EncodecEncoder {
    /** Frames of left context recomputed before each piece after the first. */
    public static final int CONTEXT_FRAMES = 4;
    public static final int DEFAULT_CHUNK_FRAMES = 375;

    private final CausalConv1d first;
    private final ResBlock[] blocks;
    private final CausalConv1d[] downsample;
    private final SkipLstm lstm;
    private final CausalConv1d last;
    private final ResidualVectorQuantizer quantizer;
    private final int hop;
    private final int chunkFrames;

    /** A SEANet residual block: {@code shortcut(x) + conv2(elu(conv1(elu(x))))}. */
    record ResBlock(CausalConv1d conv1, CausalConv1d conv2, CausalConv1d shortcut) {
        float[] forward(float[] x, int length) {
            float[] h = conv1.forward(elu(x.clone()), length);
            float[] y = conv2.forward(elu(h), length);
            float[] s = shortcut.forward(x, length);
            for (int k = 0; k < y.length; k++) y[k] += s[k];
            return y;
        }
    }

    EncodecEncoder(CausalConv1d first, ResBlock[] blocks, CausalConv1d[] downsample, SkipLstm lstm, CausalConv1d last,
                   ResidualVectorQuantizer quantizer, int chunkFrames) {
        if (blocks.length != downsample.length) throw new IllegalArgumentException("one residual block per downsampling");
        if (chunkFrames < Math.max(CONTEXT_FRAMES, last.paddingTotal() + 1))
            throw new IllegalArgumentException("chunk of " + chunkFrames + " frames is too short");
        this.first = first;
        this.blocks = blocks;
        this.downsample = downsample;
        this.lstm = lstm;
        this.last = last;
        this.quantizer = quantizer;
        this.chunkFrames = chunkFrames;
        int h = first.stride;
        for (CausalConv1d d : downsample) h *= d.stride;
        this.hop = h;
    }

    /** The same weights, run in pieces of {@code frames} frames (tests use small pieces to check the seams). */
    public EncodecEncoder withChunkFrames(int frames) {
        return new EncodecEncoder(first, blocks, downsample, lstm, last, quantizer, frames);
    }

    /**
     * The same weights with BLAS used for layers of at least {@code blasMinWeights} weights (0: every
     * layer, {@code Integer.MAX_VALUE}: none); tests run both paths against the reference.
     */
    public EncodecEncoder withBlasMinWeights(int blasMinWeights) {
        ResBlock[] b = new ResBlock[blocks.length];
        CausalConv1d[] d = new CausalConv1d[downsample.length];
        for (int s = 0; s < b.length; s++) {
            b[s] = new ResBlock(blocks[s].conv1().withBlasMinWeights(blasMinWeights),
                    blocks[s].conv2().withBlasMinWeights(blasMinWeights), blocks[s].shortcut().withBlasMinWeights(blasMinWeights));
            d[s] = downsample[s].withBlasMinWeights(blasMinWeights);
        }
        return new EncodecEncoder(first.withBlasMinWeights(blasMinWeights), b, d, lstm.withBlasMinWeights(blasMinWeights),
                last.withBlasMinWeights(blasMinWeights), quantizer.withBlasMinWeights(blasMinWeights), chunkFrames);
    }

    /** Input samples per output frame (320 for the 24 kHz model: 75 frames per second). */
    public int hop() {
        return hop;
    }

    public int chunkFrames() {
        return chunkFrames;
    }

    /** Width of the embedding the quantiser sees (128 for the 24 kHz model). */
    public int dimension() {
        return last.out;
    }

    /** Codes per codebook (1024). */
    public int codebookSize() {
        return quantizer.bins;
    }

    /** Codebooks in the weights (32 for the 24 kHz model; MERT uses the first 8). */
    public int availableCodebooks() {
        return quantizer.stages();
    }

    /** {@code ceil(samples / hop)}: EnCodec's frame count for a signal. */
    public int frames(int samples) {
        return CausalConv1d.ceilDiv(samples, hop);
    }

    /** The continuous encoder output, channel-major {@code [dimension()][frames(wave.length)]}. */
    public float[] embed(float[] wave) {
        int n = frames(requireAudio(wave));
        float[] out = new float[dimension() * n];
        run(wave, (emb, frames, offset) -> {
            for (int d = 0; d < dimension(); d++) System.arraycopy(emb, d * frames, out, d * n + offset, frames);
        });
        return out;
    }

    /** Codebook indices {@code [codebooks][frames(wave.length)]} from the first {@code codebooks} stages. */
    public int[][] codes(float[] wave, int codebooks) {
        if (codebooks < 1 || codebooks > availableCodebooks())
            throw new IllegalArgumentException(codebooks + " codebooks asked; the weights hold " + availableCodebooks());
        int n = frames(requireAudio(wave));
        int[][] codes = new int[codebooks][n];
        run(wave, (emb, frames, offset) -> quantizer.encode(emb, frames, codebooks, codes, offset));
        return codes;
    }

    private static int requireAudio(float[] wave) {
        if (wave.length == 0) throw new IllegalArgumentException("no samples to encode");
        return wave.length;
    }

    private interface PieceSink {
        void accept(float[] emb, int frames, int offset);
    }

    private void run(float[] wave, PieceSink sink) {
        int total = frames(wave.length);
        SkipLstm.State state = lstm.newState();
        float[] history = null;
        int width = lstm.dim;
        int pad = last.paddingTotal();
        for (int f0 = 0; f0 < total; f0 += chunkFrames) {
            int f1 = Math.min(total, f0 + chunkFrames);
            int ctx = Math.min(f0, CONTEXT_FRAMES);
            int a = (f0 - ctx) * hop;
            int b = f1 == total ? wave.length : f1 * hop;
            float[] h = convStack(Arrays.copyOfRange(wave, a, b), b - a);
            int got = CausalConv1d.ceilDiv(b - a, hop), n = f1 - f0;
            if (got != n + ctx) throw new IllegalStateException("piece gave " + got + " frames, expected " + (n + ctx));
            float[] piece = new float[width * n];
            for (int c = 0; c < width; c++) System.arraycopy(h, c * got + ctx, piece, c * n, n);
            float[] y = elu(lstm.forward(piece, n, state));
            float[] emb = last.forward(y, n, history);
            if (f1 < total) {
                if (n < pad) throw new IllegalStateException("piece of " + n + " frames shorter than the last conv's history");
                history = new float[width * pad];
                for (int c = 0; c < width; c++) System.arraycopy(y, c * n + n - pad, history, c * pad, pad);
            }
            sink.accept(emb, n, f0);
        }
    }

    /** First conv, then per scale a residual block, ELU and the strided conv: [channels][frames]. */
    private float[] convStack(float[] x, int length) {
        float[] h = first.forward(x, length);
        int len = first.outputLength(length);
        for (int s = 0; s < blocks.length; s++) {
            h = blocks[s].forward(h, len);
            h = downsample[s].forward(elu(h), len);
            len = downsample[s].outputLength(len);
        }
        return h;
    }

    /** torch's ELU (alpha 1), in place; exp(x) - 1 in double is within 1e-16 of expm1, far below float rounding. */
    static float[] elu(float[] x) {
        for (int k = 0; k < x.length; k++) {
            float v = x[k];
            if (v < 0f) x[k] = (float) (Math.exp(v) - 1.0);
        }
        return x;
    }
}
