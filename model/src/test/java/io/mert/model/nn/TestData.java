package io.mert.model.nn;

import io.mert.model.Batch;
import io.mert.model.MertConfig;

import java.util.List;
import java.util.SplittableRandom;

/** Small random batches and config variants for the network tests. */
final class TestData {

    private TestData() {
    }

    /** tiny() with a pre-LN encoder, layer-norm extractor, unit gradient multiplier and two label streams. */
    static MertConfig tinyPreLn() {
        MertConfig t = MertConfig.tiny();
        return new MertConfig(t.convFeatureLayers(), "layer_norm", t.encoderLayers(), t.encoderEmbedDim(),
                t.encoderFfnEmbedDim(), t.encoderAttentionHeads(), true, t.convPos(), t.convPosGroups(),
                t.attentionRelax(), t.finalDim(), t.logitTemp(), t.maskProb(), t.maskLength(), 1.0, t.dropout(),
                t.attentionDropout(), t.activationDropout(), t.dropoutInput(), t.dropoutFeatures(),
                t.encoderLayerdrop(), List.of(12, 20), 24, t.lossWeights(), t.sampleRate(), t.labelRate());
    }

    /** tiny() with a small CQT head and all dropouts on, for dropout tests. */
    static MertConfig tinyWithDropout() {
        MertConfig t = MertConfig.tiny();
        return new MertConfig(t.convFeatureLayers(), t.extractorMode(), t.encoderLayers(), t.encoderEmbedDim(),
                t.encoderFfnEmbedDim(), t.encoderAttentionHeads(), false, t.convPos(), t.convPosGroups(),
                t.attentionRelax(), t.finalDim(), t.logitTemp(), t.maskProb(), t.maskLength(), t.featureGradMult(),
                0.1, 0.1, 0.1, 0.1, 0.1, 0.0, t.labelClasses(), t.cqtBins(), t.lossWeights(), t.sampleRate(),
                t.labelRate());
    }

    static Batch batch(MertConfig c, int clips, int samples, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int frames = c.framesFor(samples);
        float[] wave = new float[clips * samples];
        for (int i = 0; i < wave.length; i++) {
            // a few tones plus noise, roughly the scale of real audio
            int t = i % samples;
            wave[i] = (float) (0.3 * Math.sin(2 * Math.PI * (220 + 110 * (i / samples)) * t / c.sampleRate())
                    + 0.05 * (r.nextDouble() * 2 - 1));
        }
        int[][] labels = new int[c.labelClasses().size()][clips * frames];
        for (int s = 0; s < labels.length; s++) {
            for (int i = 0; i < labels[s].length; i++) labels[s][i] = r.nextInt(c.labelClasses().get(s));
        }
        float[] cqt = new float[clips * frames * c.cqtBins()];
        for (int i = 0; i < cqt.length; i++) cqt[i] = (float) r.nextDouble();
        byte[] mask = SpanMasking.computeBatch(clips, frames, c.maskProb(), c.maskLength(), seed + 1);
        return new Batch(clips, samples, frames, wave, labels, cqt, mask);
    }
}
