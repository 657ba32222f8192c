package io.mert.cli;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ProgressBarTest {

    private static final long MS = 1_000_000L;
    private final AtomicLong now = new AtomicLong(1_000 * MS);
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final PrintStream err = new PrintStream(bytes, true, StandardCharsets.UTF_8);

    private String printed() {
        return bytes.toString(StandardCharsets.UTF_8);
    }

    @Test
    void lineShowsCountRateAndEta() {
        ProgressBar bar = new ProgressBar("extract", "files", 120, err, true, now::get);
        now.addAndGet(10_000 * MS);
        bar.update(30);
        assertEquals("extract [######..................] 30/120  25%  3.0 files/s  ETA 0:30", bar.line(now.get()));
        bar.update(120);
        assertEquals("extract [########################] 120/120 100%  12.0 files/s  in 0:10", bar.line(now.get()));
    }

    @Test
    void etaIsUnknownBeforeTheFirstItemAndLongJobsShowHours() {
        ProgressBar bar = new ProgressBar("x", "clips", 10, err, true, now::get);
        assertEquals("x [........................] 0/10   0%  0.0 clips/s  ETA ?", bar.line(now.get()));
        assertEquals("1:01:01", ProgressBar.clock(3661));
        assertEquals("0:59", ProgressBar.clock(59.4));
    }

    @Test
    void onATerminalTheLineIsRedrawnAtMostFiveTimesASecond() {
        ProgressBar bar = new ProgressBar("job", "files", 1000, err, true, now::get);
        for (int i = 0; i < 1000; i++) {
            bar.update(i);
            now.addAndGet(10 * MS); // 100 updates a second, for 10 s
        }
        bar.update(1000);
        bar.finish();
        String out = printed();
        long redraws = out.chars().filter(c -> c == '\r').count();
        assertTrue(redraws >= 49 && redraws <= 52, "redraws in 10 s: " + redraws);
        assertTrue(out.endsWith("] 1000/1000 100%  100.0 files/s  in 0:10\n"), out.substring(Math.max(0, out.length() - 200)));
        assertEquals(1, out.chars().filter(c -> c == '\n').count(), "one terminal line, redrawn in place");
    }

    @Test
    void inALogALineComesEveryTenSecondsAndTenthWhicheverIsLater() {
        ProgressBar fast = new ProgressBar("fast", "files", 1000, err, false, now::get);
        for (int i = 0; i < 1000; i++) { // 10% a second for 10 s: the 10 s interval decides
            fast.update(i);
            now.addAndGet(10 * MS);
        }
        fast.update(1000);
        fast.finish();
        List<String> lines = printed().lines().toList();
        assertEquals(1, lines.size(), "the 10-s job only logs its end: " + lines);
        assertTrue(lines.get(0).startsWith("fast [") && lines.get(0).contains("1000/1000") && lines.get(0).endsWith("in 0:10"), lines.get(0));

        bytes.reset();
        ProgressBar slow = new ProgressBar("slow", "files", 100, err, false, now::get);
        for (int i = 0; i < 100; i++) { // 1% every 5 s: the tenths decide
            slow.update(i);
            now.addAndGet(5_000 * MS);
        }
        slow.update(100);
        slow.finish();
        lines = printed().lines().toList();
        assertEquals(10, lines.size(), "nine tenths crossed + the end: " + lines);
        assertTrue(lines.get(0).contains(" 10/100 "), lines.get(0));
        assertTrue(printed().indexOf('\r') < 0);
    }

    @Test
    void clearWipesTheBarAndPhasesGetTheirOwnBars() {
        ProgressBar bar = new ProgressBar("job", "files", 4, err, true, now::get);
        bar.update(1);
        int before = printed().length();
        bar.clear();
        String wiped = printed().substring(before);
        assertTrue(wiped.startsWith("\r") && wiped.endsWith("\r") && wiped.strip().isEmpty(), wiped);

        bytes.reset();
        ProgressBar.Phases phases = new ProgressBar.Phases("prepare-labels", "clips", err, false, now::get);
        phases.progress("features train", 0, 2);
        phases.progress("features train", 2, 2);
        phases.progress("labels train", 0, 3);
        phases.progress("labels train", 3, 3);
        phases.finish();
        List<String> lines = printed().lines().toList();
        assertEquals(2, lines.size(), lines.toString());
        assertTrue(lines.get(0).startsWith("prepare-labels features train [") && lines.get(0).contains("2/2"), lines.get(0));
        assertTrue(lines.get(1).startsWith("prepare-labels labels train [") && lines.get(1).contains("3/3"), lines.get(1));
    }
}
