package io.mert.model.nn;

import io.mert.model.Batch;
import io.mert.model.MertConfig;
import io.mert.model.ParameterLayout;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** MERT's attention_relax (330M) and fairseq's encoder layerdrop (95M). */
class LayerDropAndRelaxTest {

    private static MertConfig with(double attentionRelax, double layerdrop) {
        MertConfig t = MertConfig.tiny();
        return new MertConfig(t.convFeatureLayers(), t.extractorMode(), t.encoderLayers(), t.encoderEmbedDim(),
                t.encoderFfnEmbedDim(), t.encoderAttentionHeads(), t.layerNormFirst(), t.convPos(), t.convPosGroups(),
                attentionRelax, t.finalDim(), t.logitTemp(), t.maskProb(), t.maskLength(), t.featureGradMult(), t.dropout(),
                t.attentionDropout(), t.activationDropout(), t.dropoutInput(), t.dropoutFeatures(), layerdrop,
                t.labelClasses(), t.cqtBins(), t.lossWeights(), t.sampleRate(), t.labelRate());
    }

    private static final int SAMPLES = 8000;

    @Test
    void attentionRelaxGivesTheSameNetworkAsAPlainSoftmax() {
        Batch b = TestData.batch(MertConfig.tiny(), 2, SAMPLES, 3);
        try (MertNetwork plain = new MertNetwork(with(0, 0), SAMPLES, 5);
             MertNetwork relaxed = new MertNetwork(with(32, 0), SAMPLES, 5)) {
            float[][][] a = plain.hiddenStates(b.waveforms());
            float[][][] r = relaxed.hiddenStates(b.waveforms());
            double worst = 0;
            for (int l = 0; l < a.length; l++) {
                for (int t = 0; t < a[l].length; t++) {
                    for (int d = 0; d < a[l][t].length; d++) {
                        worst = Math.max(worst, Math.abs(a[l][t][d] - r[l][t][d]) / (1e-3 + Math.abs(a[l][t][d])));
                    }
                }
            }
            assertTrue(worst < 1e-5, "hidden states differ by " + worst);
            INDArray ga = Nd4j.create(DataType.FLOAT, plain.layout().totalSize());
            INDArray gr = Nd4j.create(DataType.FLOAT, relaxed.layout().totalSize());
            double la = plain.computeGradients(b, ga, 1).loss(), lr = relaxed.computeGradients(b, gr, 1).loss();
            assertEquals(la, lr, 1e-5 * Math.abs(la));
            double diff = ga.sub(gr).norm2Number().doubleValue() / ga.norm2Number().doubleValue();
            assertTrue(diff < 1e-4, "gradients differ by " + diff + " (relative L2)");
        }
    }

    @Test
    void aDroppedLayerPassesItsInputThroughAndGetsNoGradient() {
        Batch b = TestData.batch(MertConfig.tiny(), 2, SAMPLES, 4);
        // layerdrop 1: every layer of every clip dropped
        try (MertNetwork all = new MertNetwork(with(0, 1.0), SAMPLES, 6); MertNetwork none = new MertNetwork(with(0, 0), SAMPLES, 6)) {
            INDArray g = Nd4j.create(DataType.FLOAT, all.layout().totalSize());
            INDArray g0 = Nd4j.create(DataType.FLOAT, none.layout().totalSize());
            double lossAll = all.computeGradients(b, g, 9).loss();
            double lossNone = none.computeGradients(b, g0, 9).loss();
            assertNotEquals(lossNone, lossAll, "dropping every layer changes the output");
            int layerParams = 0;
            for (ParameterLayout.Entry e : all.layout().entries()) {
                INDArray ge = ParameterInit.view(g, e);
                double n = ge.norm2Number().doubleValue();
                if (e.name().startsWith("encoder.layers.")) {
                    layerParams++;
                    assertEquals(0.0, n, "a dropped layer's parameter " + e.name() + " gets no gradient");
                    assertTrue(ParameterInit.view(g0, e).norm2Number().doubleValue() > 0, "without layerdrop it does: " + e.name());
                } else if (e.name().startsWith("feature_projection.") || e.name().startsWith("encoder.pos_conv")) {
                    assertTrue(n > 0, "the layers around still learn: " + e.name());
                }
            }
            assertTrue(layerParams > 0);
        }
        // without training (hidden states, evaluation) layerdrop is off: both networks agree
        try (MertNetwork all = new MertNetwork(with(0, 1.0), SAMPLES, 6); MertNetwork none = new MertNetwork(with(0, 0), SAMPLES, 6)) {
            assertArrayEquals(none.hiddenStates(b.waveforms())[2][3], all.hiddenStates(b.waveforms())[2][3], 0f);
            assertEquals(none.evaluate(b).loss(), all.evaluate(b).loss(), 0.0);
        }
    }

    @Test
    void layerdropIsDrawnPerClipAndStepWithTheConfiguredRateAndIsNotRescaled() {
        MertGraph.DropoutSite site = new MertGraph.DropoutSite("layerdrop_0", 0.3, new long[] {1, 1}, false);
        DropoutMasks masks = new DropoutMasks(List.of(site));
        java.util.Map<String, INDArray> ph = new java.util.HashMap<>();
        int dropped = 0, total = 0;
        for (long step = 0; step < 200; step++) {
            masks.fill(16, step, ph);
            for (float v : ph.get("layerdrop_0").data().asFloat()) {
                assertTrue(v == 0f || v == 1f, "keep is 0 or 1, not rescaled: " + v);
                dropped += v == 0f ? 1 : 0;
                total++;
            }
        }
        double rate = dropped / (double) total;
        // 3200 Bernoulli(0.3) draws: standard deviation 0.008
        assertEquals(0.3, rate, 0.04, "fraction of dropped (clip, step) pairs");
    }
}
