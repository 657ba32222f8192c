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

/** A replayed training step computes, bit for bit, what SameDiff's session computes for the same batch and dropout. */
class StepReplayTest {

    private static final int SAMPLES = 3200;

    @Test
    void replayedStepsEqualTheSessionsAcrossBatchesSeedsAndBatchSizes() {
        for (MertConfig c : new MertConfig[] {TestData.tinyWithDropout(), TestData.tinyPreLn()}) {
            try (MertNetwork replaying = new MertNetwork(c, SAMPLES, 5);
                 MertNetwork session = new MertNetwork(c, SAMPLES, 5).withoutReplay()) {
                INDArray g1 = Nd4j.create(DataType.FLOAT, replaying.layout().totalSize());
                INDArray g2 = Nd4j.create(DataType.FLOAT, session.layout().totalSize());
                int[] clips = {2, 2, 2, 3, 3, 2};
                for (int i = 0; i < clips.length; i++) {
                    Batch b = TestData.batch(c, clips[i], SAMPLES, 40 + i);
                    g1.assign(Float.NaN); // every gradient element must be written, every step
                    StepStats r = replaying.computeGradients(b, g1, 500 + i);
                    StepStats s = session.computeGradients(b, g2, 500 + i);
                    String at = "step " + i + " (" + clips[i] + " clips)";
                    assertEquals(s.loss(), r.loss(), 0.0, at);
                    assertEquals(s.cqtMse(), r.cqtMse(), 0.0, at);
                    assertArrayEquals(s.crossEntropySum(), r.crossEntropySum(), 0.0, at);
                    assertArrayEquals(g2.toFloatVector(), g1.toFloatVector(), 0f, at);
                    // recorded at the first step of each batch size, replayed from the second
                    assertTrue(replaying.replayedOps() > 100, at + ": no replay plan");
                    assertTrue(replaying.replayLeftOut() > 10, at + ": reshapes are read as views: " + replaying.replayLeftOut());
                    assertEquals(0, session.replayedOps());
                    // evaluation (another graph, or with no dropout the training graph's session) between steps
                    assertEquals(session.evaluate(b).loss(), replaying.evaluate(b).loss(), 0.0, at);
                }
            }
        }
    }

    @Test
    void theProfileSeesReplayedOps() {
        MertConfig c = MertConfig.tiny();
        try (MertNetwork net = new MertNetwork(c, SAMPLES, 1)) {
            INDArray g = Nd4j.create(DataType.FLOAT, net.layout().totalSize());
            Batch b = TestData.batch(c, 2, SAMPLES, 3);
            net.computeGradients(b, g, 1);
            OpTimeProfile profile = new OpTimeProfile();
            net.profile(profile);
            net.computeGradients(b, g, 2);
            long calls = profile.entries().stream().mapToLong(OpTimeProfile.Entry::calls).sum();
            assertEquals(net.replayedOps(), calls);
            assertTrue(profile.entries().stream().anyMatch(e -> e.op().equals("mert_gelu_bp")));
        }
    }

    @Test
    void aReplayedStepLeavesLittleGarbage() {
        MertConfig c = MertConfig.tiny();
        Batch b = TestData.batch(c, 2, SAMPLES, 8);
        try (MertNetwork replaying = new MertNetwork(c, SAMPLES, 1);
             MertNetwork session = new MertNetwork(c, SAMPLES, 1).withoutReplay()) {
            INDArray g = Nd4j.create(DataType.FLOAT, replaying.layout().totalSize());
            long replayed = heapBytesPerStep(replaying, b, g), ran = heapBytesPerStep(session, b, g);
            System.out.printf("Java heap allocated per tiny step: %d KiB replayed, %d KiB through the session%n", replayed >> 10, ran >> 10);
            assertTrue(replayed * 10 < ran, replayed + " bytes per replayed step, " + ran + " through the session");
            assertTrue(replayed < 2 << 20, replayed + " bytes per replayed step");
        }
    }

    private static long heapBytesPerStep(MertNetwork net, Batch b, INDArray g) {
        for (int i = 0; i < 3; i++) net.computeGradients(b, g, i);
        var threads = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long before = allocated(threads);
        int steps = 5;
        for (int i = 0; i < steps; i++) net.computeGradients(b, g, 10 + i);
        return (allocated(threads) - before) / steps;
    }

    private static long allocated(com.sun.management.ThreadMXBean threads) {
        long sum = 0;
        for (long b : threads.getThreadAllocatedBytes(threads.getAllThreadIds())) if (b > 0) sum += b;
        return sum;
    }
}
