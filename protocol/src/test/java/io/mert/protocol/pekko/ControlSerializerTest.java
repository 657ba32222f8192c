package io.mert.protocol.pekko;

import io.mert.protocol.control.CoordinatorInbound;
import io.mert.protocol.control.RunStep;
import io.mert.protocol.control.StepDone;
import io.mert.protocol.control.StepMetrics;
import io.mert.protocol.control.WorkerInbound;
import org.junit.jupiter.api.Test;

import java.io.NotSerializableException;

import static org.junit.jupiter.api.Assertions.*;

class ControlSerializerTest {

    private final ControlSerializer s = new ControlSerializer();

    @Test
    void roundTripsBothEnvelopes() throws Exception {
        WorkerInbound w = WorkerInbound.newBuilder().setRunStep(RunStep.newBuilder().setGeneration(3).setStep(17).setLr(1e-4)).build();
        assertEquals(w, s.fromBinary(s.toBinary(w), s.manifest(w)));
        CoordinatorInbound c = CoordinatorInbound.newBuilder().setStepDone(StepDone.newBuilder().setStep(5).setRank(1)
                .setMetrics(StepMetrics.newBuilder().setLoss(2.5).addMaskedAccuracy(0.25))).build();
        assertEquals(c, s.fromBinary(s.toBinary(c), s.manifest(c)));
    }

    @Test
    void refusesUnknownTypesCorruptBytesAndOversizedMessages() {
        assertThrows(IllegalArgumentException.class, () -> s.manifest("a string"));
        assertThrows(NotSerializableException.class, () -> s.fromBinary(new byte[]{1, 2, 3}, "java.lang.Runtime"));
        assertThrows(NotSerializableException.class, () -> s.fromBinary(new byte[]{(byte) 0xff, (byte) 0xff, 0x7f}, "W1"));
        assertThrows(NotSerializableException.class, () -> s.fromBinary(new byte[ControlSerializer.MAX_MESSAGE_BYTES + 1], "C1"));
    }
}
