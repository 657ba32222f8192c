package io.mert.model.nn;

import io.mert.model.Batch;
import io.mert.model.MertConfig;
import io.mert.model.config.Precision;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Mixed precision on the CPU, for correctness (ND4J's CPU half and bfloat16 products are generic loops, far slower
 * than float32: the speed is for GPUs). The float32 gradients are the reference (TorchReferenceTest checks those
 * against torchaudio): half and bfloat16 products must land within their precision, with float32 gradients.
 */
class MixedPrecisionTest {

    private static final int SAMPLES = 3200;

    @Test
    void reducedPrecisionGradientsFollowTheFloat32OnesWithinTheirPrecision() {
        MertConfig c = MertConfig.tiny();
        Batch b = TestData.batch(c, 2, SAMPLES, 11);
        try (MertNetwork fp32 = new MertNetwork(c, SAMPLES, 3);
             MertNetwork fp16 = new MertNetwork(c, SAMPLES, 3, Precision.FP16);
             MertNetwork bf16 = new MertNetwork(c, SAMPLES, 3, Precision.BF16)) {
            INDArray reference = Nd4j.create(DataType.FLOAT, fp32.layout().totalSize());
            StepStats exact = fp32.computeGradients(b, reference, 1);

            double scale = 1024;
            INDArray half = Nd4j.create(DataType.FLOAT, fp16.layout().totalSize());
            StepStats h = fp16.computeGradients(b, half, 1, scale);
            half.divi(scale);
            INDArray brain = Nd4j.create(DataType.FLOAT, bf16.layout().totalSize());
            StepStats bs = bf16.computeGradients(b, brain, 1);

            double halfError = relativeError(half, reference), bf16Error = relativeError(brain, reference);
            // half keeps 11 significant bits (2^-11 = 4.9e-4 per rounding), bfloat16 8 (3.9e-3); errors add up over layers
            assertTrue(halfError < 1e-2, "fp16 gradient error " + halfError);
            assertTrue(bf16Error < 5e-2, "bf16 gradient error " + bf16Error);
            assertTrue(halfError < bf16Error, "half has more mantissa than bfloat16: " + halfError + " vs " + bf16Error);
            assertTrue(halfError > 0 && bf16Error > 0, "the reduced products must actually run in reduced precision");
            assertEquals(exact.loss(), h.loss(), 1e-2 * Math.abs(exact.loss()), "the reported loss is not scaled");
            assertEquals(exact.loss(), bs.loss(), 3e-2 * Math.abs(exact.loss()));
            assertEquals(exact.maskedFrames(), h.maskedFrames());
        }
    }

    @Test
    void anFp16LossScaleTooLargeOverflowsToANonFiniteGradient() {
        MertConfig c = MertConfig.tiny();
        Batch b = TestData.batch(c, 2, SAMPLES, 12);
        try (MertNetwork fp16 = new MertNetwork(c, SAMPLES, 3, Precision.FP16)) {
            INDArray g = Nd4j.create(DataType.FLOAT, fp16.layout().totalSize());
            fp16.computeGradients(b, g, 1, Math.pow(2, 40)); // half's largest value is 65504
            double norm = g.norm2Number().doubleValue();
            assertFalse(Double.isFinite(norm), "gradient norm " + norm);
            fp16.computeGradients(b, g, 1, 256);
            assertTrue(Double.isFinite(g.norm2Number().doubleValue()), "a moderate scale computes finite gradients again");
        }
        try (MertNetwork fp32 = new MertNetwork(c, SAMPLES, 3)) {
            INDArray g = Nd4j.create(DataType.FLOAT, fp32.layout().totalSize());
            assertThrows(IllegalArgumentException.class, () -> fp32.computeGradients(b, g, 1, 128), "only fp16 scales the loss");
        }
    }

    private static double relativeError(INDArray got, INDArray want) {
        return got.sub(want).norm2Number().doubleValue() / want.norm2Number().doubleValue();
    }
}
