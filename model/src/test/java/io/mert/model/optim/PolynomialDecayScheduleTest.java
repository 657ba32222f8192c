package io.mert.model.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class PolynomialDecayScheduleTest {

    private static final double TOL = 1e-15;

    @Test
    void linearWarmupStartsAtZeroAndReachesPeak() {
        PolynomialDecaySchedule s = new PolynomialDecaySchedule(5e-4, 100, 1000, 0.0, 1.0);
        assertEquals(0.0, s.lrAt(0), TOL); // fairseq's step_update(0): the first update runs at lr 0
        assertEquals(5e-6, s.lrAt(1), TOL);
        assertEquals(2.5e-4, s.lrAt(50), TOL);
        assertEquals(5e-4, s.lrAt(100), TOL);
    }

    @Test
    void linearDecayAfterWarmupReachesEndAtTotal() {
        PolynomialDecaySchedule s = new PolynomialDecaySchedule(5e-4, 100, 1000, 0.0, 1.0);
        assertEquals(5e-4 * (1 - 1.0 / 900), s.lrAt(101), TOL);
        assertEquals(2.5e-4, s.lrAt(550), TOL);
        assertEquals(5e-4 / 900, s.lrAt(999), TOL);
        assertEquals(0.0, s.lrAt(1000), 0.0);
        assertEquals(0.0, s.lrAt(5000), 0.0);
    }

    @Test
    void powerAndEndLearningRate() {
        PolynomialDecaySchedule s = new PolynomialDecaySchedule(5e-4, 100, 1000, 1e-5, 2.0);
        double remaining = 1 - 300.0 / 900.0;
        assertEquals((5e-4 - 1e-5) * remaining * remaining + 1e-5, s.lrAt(400), TOL);
        assertEquals(1e-5, s.lrAt(1000), 0.0);
        assertEquals(1e-5, s.lrAt(1_000_000), 0.0);
    }

    @Test
    void noWarmupStartsAtPeak() {
        PolynomialDecaySchedule s = new PolynomialDecaySchedule(1.5e-3, 0, 400_000, 0.0, 1.0);
        assertEquals(1.5e-3, s.lrAt(0), TOL);
        assertEquals(1.5e-3 * 0.5, s.lrAt(200_000), TOL);
    }

    @Test
    void warmupBranchWinsWhenWarmupExceedsTotal() {
        // fairseq tests the warmup branch first, so lr keeps rising past total_num_update
        PolynomialDecaySchedule s = new PolynomialDecaySchedule(1.0, 10, 5, 0.0, 1.0);
        assertEquals(0.8, s.lrAt(8), TOL);
        assertEquals(0.0, s.lrAt(11), 0.0);
    }

    @Test
    void rejectsBadSettings() {
        assertThrows(IllegalArgumentException.class, () -> new PolynomialDecaySchedule(1e-3, 10, 0, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> new PolynomialDecaySchedule(1e-3, -1, 10, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> new PolynomialDecaySchedule(1e-3, 1, 10, 0, 1).lrAt(-1));
    }
}
