package io.mert.model.nn;

import io.mert.model.Batch;
import io.mert.model.MertConfig;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The step arena reuses one step's arrays for the next: results must not depend on what ran before. */
class StepArenaTest {

    private static final int SAMPLES = 3200;

    @Test
    void recycledArraysCarryNothingIntoTheNextStep() {
        MertConfig c = TestData.tinyWithDropout();
        Batch first = TestData.batch(c, 2, SAMPLES, 3);
        Batch second = TestData.batch(c, 2, SAMPLES, 4);
        try (MertNetwork used = new MertNetwork(c, SAMPLES, 5); MertNetwork fresh = new MertNetwork(c, SAMPLES, 5)) {
            INDArray g = Nd4j.create(DataType.FLOAT, used.layout().totalSize());
            for (int i = 0; i < 3; i++) used.computeGradients(first, g, 100 + i);
            double evalBefore = used.evaluate(first).loss();
            StepStats s = used.computeGradients(second, g, 7);
            INDArray gFresh = Nd4j.create(DataType.FLOAT, fresh.layout().totalSize());
            StepStats sFresh = fresh.computeGradients(second, gFresh, 7);
            assertEquals(sFresh.loss(), s.loss(), 0.0);
            assertArrayEquals(gFresh.toFloatVector(), g.toFloatVector(), 0f);
            assertEquals(fresh.evaluate(first).loss(), evalBefore, 0.0);
            assertEquals(fresh.evaluate(second).loss(), used.evaluate(second).loss(), 0.0);
        }
    }

    @Test
    void freeingArraysMidStepChangesNoBitAndShrinksThePool() {
        // with dropout (training and evaluation graphs) and without (one graph: evaluation runs the
        // training graph, and its listeners, between steps)
        for (MertConfig c : new MertConfig[] {TestData.tinyWithDropout(), MertConfig.tiny()}) freeingChangesNoBit(c);
    }

    private static void freeingChangesNoBit(MertConfig c) {
        try (MertNetwork freeing = new MertNetwork(c, SAMPLES, 5);
             MertNetwork keeping = new MertNetwork(c, SAMPLES, 5).keepStepArraysToTheEnd()) {
            INDArray g1 = Nd4j.create(DataType.FLOAT, freeing.layout().totalSize());
            INDArray g2 = Nd4j.create(DataType.FLOAT, keeping.layout().totalSize());
            for (int i = 0; i < 4; i++) {
                Batch b = TestData.batch(c, 2, SAMPLES, 20 + i % 2);
                StepStats a = freeing.computeGradients(b, g1, 300 + i);
                StepStats k = keeping.computeGradients(b, g2, 300 + i);
                assertEquals(k.loss(), a.loss(), 0.0, "step " + i);
                assertArrayEquals(g2.toFloatVector(), g1.toFloatVector(), 0f, "step " + i);
                assertEquals(keeping.evaluate(b).loss(), freeing.evaluate(b).loss(), 0.0, "step " + i);
            }
            long requested = freeing.trainingArena().lastStepRequestedBytes();
            // 0.62 of the request on the tiny step since the fused Java kernels, which leave fewer short-lived arrays to reuse
            assertTrue(freeing.trainingArena().pooledBytes() < 0.7 * requested,
                    "pool " + freeing.trainingArena().pooledBytes() + " bytes for a step that asks for " + requested);
            assertTrue(keeping.trainingArena().pooledBytes() > 0.9 * requested, "without freeing, the pool is the whole step");
        }
    }

    @Test
    void theArenasHoldAtMostOneStepOfArraysAndStopGrowing() throws Exception {
        MertConfig c = MertConfig.tiny();
        Batch b = TestData.batch(c, 2, SAMPLES, 9);
        try (MertNetwork net = new MertNetwork(c, SAMPLES, 1)) {
            INDArray g = Nd4j.create(DataType.FLOAT, net.layout().totalSize());
            long[] pooled = new long[8];
            long[] requested = new long[8];
            Runnable[] steps = new Runnable[pooled.length];
            for (int i = 0; i < steps.length; i++) {
                int step = i;
                steps[i] = () -> {
                    net.computeGradients(b, g, step);
                    pooled[step] = net.arenaBytes();
                    requested[step] = net.trainingArena().lastStepRequestedBytes();
                };
            }
            for (int i = 0; i < 4; i++) steps[i].run();
            // the worker's one-thread dispatcher may replace its thread: the new thread's arena replaces the old one
            Thread other = new Thread(() -> {
                for (int i = 4; i < 8; i++) steps[i].run();
            });
            other.start();
            other.join();
            for (int i = 0; i < pooled.length; i++) {
                assertTrue(pooled[i] > 0, "the training step's arrays come from the arena");
                assertTrue(pooled[i] <= requested[i], "step " + i + ": pool " + pooled[i] + " bytes > one step's requests " + requested[i]);
            }
            // without the recycle the pool would grow by one step's requests every step
            assertTrue(pooled[7] < 1.05 * pooled[0], "after 8 steps the arenas hold " + pooled[7] + " bytes, after 1 " + pooled[0]);
        }
    }
}
