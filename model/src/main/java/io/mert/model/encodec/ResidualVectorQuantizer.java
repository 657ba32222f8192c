package io.mert.model.encodec;

/**
 * EnCodec's residual vector quantiser at inference ({@code ResidualVectorQuantization.encode}): each
 * stage picks, per frame, the codeword nearest to the residual in squared Euclidean distance (the
 * first one on a tie, as torch's {@code max} does), and subtracts it before the next stage.
 */
final class ResidualVectorQuantizer {
    final int dim;
    final int bins;
    /** Per stage [bins][dim]. */
    private final float[][] codebooks;
    /** Per stage: the codebook as a 1x1 conv dim -> bins with zero bias, for the scores e_k . x. */
    private final CausalConv1d[] scorers;
    private final double[][] halfNorms;

    ResidualVectorQuantizer(int dim, int bins, float[][] codebooks) {
        this(dim, bins, codebooks, CausalConv1d.DEFAULT_BLAS_MIN_WEIGHTS);
    }

    ResidualVectorQuantizer(int dim, int bins, float[][] codebooks, int blasMinWeights) {
        this.dim = dim;
        this.bins = bins;
        this.codebooks = codebooks;
        scorers = new CausalConv1d[codebooks.length];
        halfNorms = new double[codebooks.length][bins];
        for (int q = 0; q < codebooks.length; q++) {
            if (codebooks[q].length != bins * dim)
                throw new IllegalArgumentException("codebook " + q + " has " + codebooks[q].length + " values, not " + bins + " x " + dim);
            scorers[q] = new CausalConv1d(dim, bins, 1, 1, 1, codebooks[q], new float[bins], blasMinWeights);
            for (int k = 0; k < bins; k++) {
                double s = 0;
                for (int d = 0; d < dim; d++) s += (double) codebooks[q][k * dim + d] * codebooks[q][k * dim + d];
                halfNorms[q][k] = 0.5 * s;
            }
        }
    }

    ResidualVectorQuantizer withBlasMinWeights(int blasMinWeights) {
        return new ResidualVectorQuantizer(dim, bins, codebooks, blasMinWeights);
    }

    int stages() {
        return codebooks.length;
    }

    /**
     * Codes of {@code frames} frames of {@code emb} ([dim][frames]) for the first {@code nq} stages,
     * written to {@code codes[q][offset + t]}.
     */
    void encode(float[] emb, int frames, int nq, int[][] codes, int offset) {
        if (nq > stages()) throw new IllegalArgumentException(nq + " codebooks asked, the weights hold " + stages());
        float[] residual = emb.clone();
        for (int q = 0; q < nq; q++) {
            // argmin ||x - e||^2 = argmax (e.x - |e|^2 / 2)
            float[] scores = scorers[q].forward(residual, frames); // [bins][frames]
            double[] hn = halfNorms[q];
            float[] book = codebooks[q];
            for (int t = 0; t < frames; t++) {
                int best = 0;
                double bestScore = Double.NEGATIVE_INFINITY;
                for (int k = 0; k < bins; k++) {
                    double s = scores[k * frames + t] - hn[k];
                    if (s > bestScore) {
                        bestScore = s;
                        best = k;
                    }
                }
                codes[q][offset + t] = best;
                for (int d = 0; d < dim; d++) residual[d * frames + t] -= book[best * dim + d];
            }
        }
    }
}
