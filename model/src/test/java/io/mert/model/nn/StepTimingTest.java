package io.mert.model.nn;

import io.mert.model.Batch;
import io.mert.model.MertConfig;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Prints (does not assert) the cost of a tiny training step at the demo's batch shape, 4 x 2 s. */
class StepTimingTest {

    @Test
    void printTinyStepTime() {
        MertConfig c = MertConfig.tiny();
        try (MertNetwork net = new MertNetwork(c, 48000, 1)) {
            Batch b = TestData.batch(c, 4, 48000, 2);
            INDArray grad = Nd4j.create(DataType.FLOAT, net.layout().totalSize());
            for (int i = 0; i < 2; i++) net.computeGradients(b, grad, i); // warm-up
            int steps = 4;
            long t0 = System.nanoTime();
            double loss = 0;
            for (int i = 0; i < steps; i++) loss = net.computeGradients(b, grad, i).loss();
            double ms = (System.nanoTime() - t0) / 1e6 / steps;
            System.out.printf("tiny computeGradients, batch 4 x 48000: %.1f ms/step (OMP_NUM_THREADS=%s)%n",
                    ms, System.getenv("OMP_NUM_THREADS"));
            assertTrue(Double.isFinite(loss));
        }
    }
}
