package io.mert.model.nn;

import io.mert.model.Batch;
import io.mert.model.MertConfig;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The SameDiff graph against an independent float64 loop implementation of the same model. */
class MertNetworkReferenceTest {

    static MertConfig config(String name) {
        return name.equals("tiny") ? MertConfig.tiny() : TestData.tinyPreLn();
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny", "tinyPreLn"})
    void lossAndStatsMatchReference(String name) {
        MertConfig c = config(name);
        try (MertNetwork net = new MertNetwork(c, 6400, 11)) {
            Batch b = TestData.batch(c, 2, 6400, 5);
            ReferenceMert.Result ref = new ReferenceMert(c, net.layout(), net.parameters().toFloatVector()).forward(b);
            StepStats eval = net.evaluate(b);
            StepStats train = net.computeGradients(b, Nd4j.create(DataType.FLOAT, net.layout().totalSize()), 3);
            for (StepStats s : new StepStats[] {eval, train}) {
                assertEquals(ref.masked(), s.maskedFrames());
                assertEquals(ref.loss(), s.loss(), 1e-4 * Math.abs(ref.loss()), "loss");
                assertEquals(ref.penalty(), s.featurePenalty(), 1e-4 * ref.penalty(), "feature penalty");
                assertEquals(ref.cqtMse(), s.cqtMse(), 1e-4 * ref.cqtMse(), "cqt mse");
                for (int k = 0; k < ref.ce().length; k++) {
                    assertEquals(ref.ce()[k], s.crossEntropySum()[k], 1e-4 * ref.ce()[k], "CE stream " + k);
                }
                assertArrayEquals(ref.correct(), s.correct());
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny", "tinyPreLn"})
    void hiddenStatesMatchReference(String name) {
        MertConfig c = config(name);
        try (MertNetwork net = new MertNetwork(c, 6400, 12)) {
            Batch b = TestData.batch(c, 1, 6400, 6);
            Batch unmasked = new Batch(1, 6400, b.frames(), b.waveforms(), b.labels(), b.cqt(), new byte[b.frames()]);
            double[][][] ref = new ReferenceMert(c, net.layout(), net.parameters().toFloatVector())
                    .forward(unmasked).hiddenOfFirstClip();
            float[][][] got = net.hiddenStates(b.waveforms());
            assertEquals(c.encoderLayers() + 1, got.length);
            for (int l = 0; l < got.length; l++) {
                assertEquals(b.frames(), got[l].length);
                for (int t = 0; t < got[l].length; t++)
                    for (int j = 0; j < got[l][t].length; j++)
                        assertEquals(ref[l][t][j], got[l][t][j], 1e-3, "layer " + l + " frame " + t + " dim " + j);
            }
            // another length goes through its own inference graph
            float[] longer = java.util.Arrays.copyOf(b.waveforms(), 8000);
            assertEquals(c.framesFor(8000), net.hiddenStates(longer)[0].length);
        }
    }
}
