package io.mert.model.optim;

import io.mert.model.config.LossScaleConfig;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Replays the update sequences of reference/loss_scaler.txt, written by fairseq's own DynamicLossScaler
 * (tools/reference/make_loss_scaler_fixture.py), and compares the scaler's whole state after every update.
 */
class DynamicLossScalerTest {

    @Test
    void followsFairseqsScalerUpdateForUpdate() throws Exception {
        List<String> lines;
        try (InputStream in = getClass().getResourceAsStream("/reference/loss_scaler.txt")) {
            lines = new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().toList();
        }
        DynamicLossScaler scaler = null;
        int scenarios = 0, overflows = 0, minimum = 0;
        for (String line : lines) {
            String[] f = line.split(" ");
            if (f[0].equals("scenario")) {
                scaler = new DynamicLossScaler(new LossScaleConfig(Double.parseDouble(f[1]), Integer.parseInt(f[2]),
                        Double.parseDouble(f[3]), Double.parseDouble(f[4]), f[5].equals("none") ? Double.NaN : Double.parseDouble(f[5])));
                scenarios++;
                continue;
            }
            double norm = f[0].equals("ok") ? 1.0 : f[0].equals("inf") ? Double.POSITIVE_INFINITY : Double.NaN;
            String outcome;
            try {
                if (scaler.overflowed(norm)) {
                    outcome = "overflow";
                    overflows++;
                } else {
                    scaler.update();
                    outcome = "applied";
                }
            } catch (DynamicLossScaler.MinimumLossScaleException e) {
                outcome = "min_scale";
                minimum++;
                assertTrue(e.getMessage().contains("minimum loss scale reached"), e.getMessage());
            }
            DynamicLossScaler.State s = scaler.state();
            String where = "after \"" + line + "\"";
            assertEquals(f[1], outcome, where);
            assertEquals(Double.parseDouble(f[2]), s.scale(), 0.0, where);
            assertEquals(Long.parseLong(f[3]), s.iter(), where);
            assertEquals(Long.parseLong(f[4]), s.lastOverflowIter(), where);
            assertEquals(Long.parseLong(f[5]), s.lastRescaleIter(), where);
            assertEquals(Long.parseLong(f[6]), s.overflowsSinceRescale(), where);
        }
        assertEquals(6, scenarios);
        assertTrue(overflows > 50 && minimum == 1, overflows + " overflows, " + minimum + " minimum-scale stops");
    }

    @Test
    void aRestoredStateContinuesAlike() {
        LossScaleConfig config = new LossScaleConfig(128, 3, 0.0, 1e-4, Double.NaN);
        DynamicLossScaler a = new DynamicLossScaler(config);
        boolean[] overflow = {false, true, false, false, false, false, true, false, false, false, false};
        for (int i = 0; i < 5; i++) {
            if (!a.overflowed(overflow[i] ? Double.NaN : 1)) a.update();
        }
        DynamicLossScaler b = new DynamicLossScaler(config);
        b.restore(a.state());
        for (int i = 5; i < overflow.length; i++) {
            for (DynamicLossScaler s : new DynamicLossScaler[] {a, b}) if (!s.overflowed(overflow[i] ? Double.NaN : 1)) s.update();
            assertEquals(a.state(), b.state());
        }
        assertThrows(IllegalArgumentException.class, () -> b.restore(new DynamicLossScaler.State(-1, 0, -1, -1, 0)));
        b.reset();
        assertEquals(128, b.scale());
    }
}
