package io.mert.model.nn;

import io.mert.model.Batch;
import io.mert.model.MertConfig;
import io.mert.model.ParameterLayout;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrainingAndParametersTest {

    @Test
    void lossFallsUnderPlainSgdOnAFixedBatch() {
        MertConfig c = MertConfig.tiny();
        try (MertNetwork net = new MertNetwork(c, 6400, 5)) {
            Batch b = TestData.batch(c, 2, 6400, 17);
            INDArray grad = Nd4j.create(DataType.FLOAT, net.layout().totalSize());
            double first = 0, last = 0;
            for (int step = 0; step < 30; step++) {
                StepStats s = net.computeGradients(b, grad, step);
                if (step == 0) first = s.loss();
                last = s.loss();
                // SGD on the per-masked-frame loss, gradient clipped to norm 1 like fairseq's clip_norm
                grad.divi(s.maskedFrames());
                double norm = grad.norm2Number().doubleValue();
                net.parameters().subi(grad.muli(0.5 / Math.max(1.0, norm)));
            }
            System.out.printf("loss %.3f -> %.3f over 30 SGD steps%n", first, last);
            assertTrue(last < 0.7 * first, "loss " + first + " -> " + last);
        }
    }

    @Test
    void parametersAreLiveViewsAndInitIsDeterministic() {
        MertConfig c = MertConfig.tiny();
        try (MertNetwork a = new MertNetwork(c, 3200, 7); MertNetwork same = new MertNetwork(c, 3200, 7);
             MertNetwork other = new MertNetwork(c, 3200, 8)) {
            assertArrayEquals(a.parameters().toFloatVector(), same.parameters().toFloatVector());
            assertFalse(java.util.Arrays.equals(a.parameters().toFloatVector(), other.parameters().toFloatVector()));
            Batch b = TestData.batch(c, 1, 3200, 3);
            double before = a.evaluate(b).loss();
            ParameterLayout.Entry cqt = a.layout().get(MertLayout.CQT_HEAD + "bias");
            ParameterInit.view(a.parameters(), cqt).addi(0.5f);
            double after = a.evaluate(b).loss();
            assertNotEquals(before, after);
            double ref = new ReferenceMert(c, a.layout(), a.parameters().toFloatVector()).forward(b).loss();
            assertEquals(ref, after, 1e-4 * Math.abs(ref));
            float[][][] h0 = a.hiddenStates(b.waveforms());
            a.parameters().muli(1.01f);
            assertNotEquals(h0[2][0][0], a.hiddenStates(b.waveforms())[2][0][0]);
        }
    }

    @Test
    void batchesOfOtherCropLengthsTrainTheSameModelAsANetworkBuiltForThatLength() {
        // batches by tokens vary the crop per step: one network answers every length, over one parameter buffer
        MertConfig c = TestData.tinyWithDropout();
        try (MertNetwork net = new MertNetwork(c, 6400, 5); MertNetwork shorter = new MertNetwork(c, 4480, 5)) {
            INDArray g = Nd4j.create(DataType.FLOAT, net.layout().totalSize());
            INDArray expected = Nd4j.create(DataType.FLOAT, net.layout().totalSize());
            for (int clips : new int[] {3, 1}) {
                Batch b = TestData.batch(c, clips, 4480, 11 + clips);
                StepStats s = net.computeGradients(b, g, 9);
                StepStats ref = shorter.computeGradients(b, expected, 9);
                assertEquals(ref.loss(), s.loss(), 0.0);
                assertEquals(ref.maskedFrames(), s.maskedFrames());
                assertArrayEquals(expected.toFloatVector(), g.toFloatVector(), 0f);
                assertEquals(shorter.evaluate(b).loss(), net.evaluate(b).loss(), 0.0);
            }
            // an update of the shared buffer reaches the other length's graph
            net.parameters().muli(1.01f);
            shorter.parameters().assign(net.parameters());
            Batch b = TestData.batch(c, 2, 4480, 4);
            assertEquals(shorter.evaluate(b).loss(), net.evaluate(b).loss(), 0.0);
        }
    }

    @Test
    void initFollowsFairseqRules() {
        MertConfig c = MertConfig.tiny();
        ParameterLayout layout = MertLayout.of(c);
        INDArray flat = Nd4j.create(DataType.FLOAT, layout.totalSize());
        ParameterInit.initialize(layout, flat, 3);
        INDArray q = ParameterInit.view(flat, layout.get("encoder.layers.0.attention.q_proj.weight"));
        assertEquals(0.02, q.stdNumber().doubleValue(), 0.002);
        assertEquals(0.0, ParameterInit.view(flat, layout.get("encoder.layers.0.attention.q_proj.bias")).norm2Number().doubleValue());
        INDArray conv = ParameterInit.view(flat, layout.get("feature_extractor.conv_layers.1.conv.weight"));
        assertEquals(Math.sqrt(2.0 / (32 * 3)), conv.stdNumber().doubleValue(), 0.02);
        assertEquals(1.0, ParameterInit.view(flat, layout.get("encoder.layer_norm.weight")).meanNumber().doubleValue());
        INDArray mask = ParameterInit.view(flat, layout.get(MertLayout.MASK_EMBED));
        assertTrue(mask.minNumber().doubleValue() >= 0 && mask.maxNumber().doubleValue() < 1);
        // weight norm: g equals |v| per kernel tap, so the effective weight starts equal to v
        INDArray v = ParameterInit.view(flat, layout.get(MertLayout.POS_CONV + "weight_v"));
        INDArray g = ParameterInit.view(flat, layout.get(MertLayout.POS_CONV + "weight_g"));
        for (int k = 0; k < c.convPos(); k++) {
            double n = 0;
            for (int o = 0; o < v.size(0); o++) for (int i = 0; i < v.size(1); i++) n += Math.pow(v.getDouble(o, i, k), 2);
            assertEquals(Math.sqrt(n), g.getDouble(0, 0, k), 1e-5);
        }
    }

    @Test
    void dropoutIsSeededAndOffInEvaluation() {
        MertConfig c = TestData.tinyWithDropout();
        try (MertNetwork net = new MertNetwork(c, 3200, 9)) {
            Batch b = TestData.batch(c, 2, 3200, 4);
            INDArray g1 = Nd4j.create(DataType.FLOAT, net.layout().totalSize());
            INDArray g2 = g1.dup(), g3 = g1.dup();
            double l1 = net.computeGradients(b, g1, 100).loss();
            double l2 = net.computeGradients(b, g2, 100).loss();
            double l3 = net.computeGradients(b, g3, 101).loss();
            assertEquals(l1, l2);
            assertEquals(g1, g2);
            assertNotEquals(l1, l3);
            double e1 = net.evaluate(b).loss();
            assertEquals(e1, net.evaluate(b).loss());
            double ref = new ReferenceMert(c, net.layout(), net.parameters().toFloatVector()).forward(b).loss();
            assertEquals(ref, e1, 1e-4 * Math.abs(ref), "evaluation runs without dropout");
        }
    }

    @Test
    void mert95MLayoutBuildsAndRuns() {
        MertConfig c = MertConfig.mert95M();
        ParameterLayout layout = MertLayout.of(c);
        long heads = 0;
        for (ParameterLayout.Entry e : layout.entries()) {
            if (e.name().startsWith(MertLayout.FINAL_PROJ) || e.name().equals(MertLayout.LABEL_EMBS)
                    || e.name().startsWith(MertLayout.CQT_HEAD)) heads += e.size();
        }
        System.out.printf("MERT-95M parameters: %d total, %d in the HF model, %d in pre-training heads%n",
                layout.totalSize(), layout.totalSize() - heads, heads);
        try (MertNetwork net = new MertNetwork(c, 8000, 1)) {
            assertEquals(layout.totalSize(), net.parameters().length());
            float[][][] h = net.hiddenStates(new float[8000]);
            assertEquals(13, h.length);
            assertEquals(c.framesFor(8000), h[12].length);
            assertEquals(768, h[12][0].length);
        }
    }
}
