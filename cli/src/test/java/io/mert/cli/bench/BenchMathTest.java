package io.mert.cli.bench;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class BenchMathTest {

    @Test
    void byteSizesParseWithBinarySuffixesAndFormatBack() {
        assertEquals(4096, ByteSize.parse("4096"));
        assertEquals(4096, ByteSize.parse("4K"));
        assertEquals(64 * 1024, ByteSize.parse("64KiB"));
        assertEquals(16L * 1024 * 1024, ByteSize.parse("16m"));
        assertEquals(1L << 30, ByteSize.parse("1GiB"));
        assertEquals("4 KiB", ByteSize.format(4096));
        assertEquals("64 MiB", ByteSize.format(64L << 20));
        assertEquals("1536 B", ByteSize.format(1536));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ByteSize.parse("4 kilo"));
        assertTrue(e.getMessage().contains("'4 kilo'"), e.getMessage());
    }

    @Test
    void bandwidthsFollowNcclTestsDefinitions() {
        // 1e9 bytes in 0.5 s: algbw 2e9 B/s; 4 ranks: busbw = 2e9 * 2 * 3 / 4 = 3e9
        assertEquals(2e9, Bandwidth.algorithmic(1_000_000_000L, 0.5), 1e-3);
        assertEquals(3e9, Bandwidth.bus(1_000_000_000L, 0.5, 4), 1e-3);
        // 2 ranks: busbw == algbw; 1 rank: nothing crosses a link
        assertEquals(2e9, Bandwidth.bus(1_000_000_000L, 0.5, 2), 1e-3);
        assertEquals(0.0, Bandwidth.bus(1_000_000_000L, 0.5, 1));
        assertThrows(IllegalArgumentException.class, () -> Bandwidth.algorithmic(10, 0));
    }

    @Test
    void timePerOperationIsTheMedianTrialOverIterations() {
        Timings odd = new Timings(4096, 10, new double[]{0.5, 0.1, 0.2});
        assertEquals(0.02, odd.secondsPerOp(), 1e-15);
        assertEquals((0.5 - 0.1) / 0.2, odd.spread(), 1e-12);
        Timings even = new Timings(4096, 4, new double[]{0.4, 0.1, 0.2, 0.3});
        assertEquals(0.25 / 4, even.secondsPerOp(), 1e-15);
    }

    @Test
    void planShrinksIterationsWithSizeWithinBoundsAndRoundTrips() {
        BenchPlan plan = BenchPlan.of(List.of(4096L, 1L << 20, 64L << 20), 256L << 20, 3, 2000, 0, 5);
        assertEquals(2000, plan.steps().get(0).iterations()); // 65536 capped at 2000
        assertEquals(256, plan.steps().get(1).iterations());
        assertEquals(4, plan.steps().get(2).iterations());
        assertEquals(64L << 20, plan.largest());
        BenchPlan back = BenchPlan.decode(plan.encode(), 5);
        assertEquals(plan, back);
        assertEquals(7, BenchPlan.of(List.of(4096L), 1, 3, 2000, 7, 1).steps().get(0).iterations());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> BenchPlan.of(List.of(4098L), 1, 3, 2000, 0, 1));
        assertTrue(e.getMessage().contains("multiple of 4"), e.getMessage());
    }
}
