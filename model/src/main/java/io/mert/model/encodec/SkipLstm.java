package io.mert.model.encodec;

/**
 * EnCodec's {@code SLSTM}: a stack of {@code torch.nn.LSTM} layers over the frames of a
 * channel-major {@code [dim][frames]} signal, plus the input ({@code y = lstm(x) + x}). Gate order and
 * equations are torch's: {@code i, f, g, o}; {@code c' = f*c + i*g}, {@code h' = o*tanh(c')}.
 * {@link State} carries {@code (h, c)} between pieces of one signal.
 */
final class SkipLstm {
    final int dim;
    /** Per layer: input projection as a 1x1 conv holding both biases, and W_hh transposed [dim][4*dim]. */
    private final CausalConv1d[] inputProjection;
    private final float[][] recurrentT;

    /** @param weightIh per layer [4*dim][dim]; weightHh [4*dim][dim]; biasIh, biasHh [4*dim] */
    SkipLstm(int dim, float[][] weightIh, float[][] weightHh, float[][] biasIh, float[][] biasHh) {
        this(dim, weightIh, weightHh, biasIh, biasHh, CausalConv1d.DEFAULT_BLAS_MIN_WEIGHTS);
    }

    private SkipLstm(CausalConv1d[] inputProjection, float[][] recurrentT, int dim) {
        this.dim = dim;
        this.inputProjection = inputProjection;
        this.recurrentT = recurrentT;
    }

    SkipLstm(int dim, float[][] weightIh, float[][] weightHh, float[][] biasIh, float[][] biasHh, int blasMinWeights) {
        this.dim = dim;
        int layers = weightIh.length;
        inputProjection = new CausalConv1d[layers];
        recurrentT = new float[layers][];
        int g = 4 * dim;
        for (int l = 0; l < layers; l++) {
            float[] b = new float[g];
            for (int k = 0; k < g; k++) b[k] = biasIh[l][k] + biasHh[l][k];
            inputProjection[l] = new CausalConv1d(dim, g, 1, 1, 1, weightIh[l].clone(), b, blasMinWeights);
            float[] t = new float[dim * g];
            for (int r = 0; r < g; r++) for (int c = 0; c < dim; c++) t[c * g + r] = weightHh[l][r * dim + c];
            recurrentT[l] = t;
        }
    }

    SkipLstm withBlasMinWeights(int blasMinWeights) {
        CausalConv1d[] p = new CausalConv1d[inputProjection.length];
        for (int l = 0; l < p.length; l++) p[l] = inputProjection[l].withBlasMinWeights(blasMinWeights);
        return new SkipLstm(p, recurrentT, dim);
    }

    int layers() {
        return recurrentT.length;
    }

    /** Hidden and cell state of every layer, zero at the start of a signal. */
    final class State {
        final float[][] h = new float[layers()][dim];
        final float[][] c = new float[layers()][dim];
    }

    State newState() {
        return new State();
    }

    /** Runs {@code frames} frames of {@code x} ([dim][frames]) from {@code state}, which it advances. */
    float[] forward(float[] x, int frames, State state) {
        int g = 4 * dim;
        float[] layerIn = x;
        float[] gates = new float[g];
        for (int l = 0; l < layers(); l++) {
            float[] proj = inputProjection[l].forward(layerIn, frames); // [4*dim][frames]
            float[] wT = recurrentT[l];
            float[] h = state.h[l], c = state.c[l];
            float[] layerOut = new float[dim * frames];
            for (int t = 0; t < frames; t++) {
                for (int k = 0; k < g; k++) gates[k] = proj[k * frames + t];
                for (int j = 0; j < dim; j++) {
                    float hj = h[j];
                    if (hj == 0f) continue;
                    int base = j * g;
                    for (int k = 0; k < g; k++) gates[k] += wT[base + k] * hj;
                }
                for (int j = 0; j < dim; j++) {
                    double i = sigmoid(gates[j]);
                    double f = sigmoid(gates[dim + j]);
                    double gg = Math.tanh(gates[2 * dim + j]);
                    double o = sigmoid(gates[3 * dim + j]);
                    float cj = (float) (f * c[j] + i * gg);
                    c[j] = cj;
                    h[j] = (float) (o * Math.tanh(cj));
                    layerOut[j * frames + t] = h[j];
                }
            }
            layerIn = layerOut;
        }
        float[] y = layerIn;
        for (int k = 0; k < dim * frames; k++) y[k] += x[k];
        return y;
    }

    private static double sigmoid(float v) {
        return 1.0 / (1.0 + Math.exp(-v));
    }
}
