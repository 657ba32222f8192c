package io.mert.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ConsoleProgressTest {

    private static ObjectNode step(long step, double stepSeconds) throws Exception {
        return (ObjectNode) new ObjectMapper().readTree(("{\"step\":%d,\"loss\":2.5,\"acoustic_loss\":[2.1,2.3],"
                + "\"masked_accuracy\":[0.25,0.125],\"cqt_loss\":0.5,\"lr\":0.001,\"grad_norm\":1.5,"
                + "\"samples_per_s\":8,\"world_size\":2,\"generation\":3,\"step_s\":%s}").formatted(step, stepSeconds));
    }

    @Test
    void theTrainingLineShowsPerCodebookLossesAccuracyAndTheTimeLeft() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ConsoleProgress p = new ConsoleProgress(new PrintStream(bytes, true, StandardCharsets.UTF_8), 10, 100);
        for (int s = 1; s <= 10; s++) p.onStep(step(s, 2.0));
        String[] lines = bytes.toString(StandardCharsets.UTF_8).strip().split("\n");
        assertEquals(2, lines.length, "step 1 and every 10th step: " + String.join("\n", lines));
        String last = lines[1];
        assertTrue(last.startsWith("step    10/100  loss 2.5000  acoustic [2.100 2.300]  masked_acc [0.250 0.125]"), last);
        assertTrue(last.contains("world 2  gen 3  eta 3m00s"), "90 steps left at 2 s each: " + last);
    }

    @Test
    void etaFormats() {
        assertEquals("?", ConsoleProgress.eta(Double.NaN));
        assertEquals("45s", ConsoleProgress.eta(45));
        assertEquals("12m05s", ConsoleProgress.eta(725));
        assertEquals("3h07m", ConsoleProgress.eta(3 * 3600 + 7 * 60 + 20));
    }
}
