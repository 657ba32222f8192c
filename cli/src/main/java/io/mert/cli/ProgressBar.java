package io.mert.cli;

import io.mert.data.ProgressListener;

import java.io.PrintStream;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * Progress of a long job on stderr. On a terminal: one line redrawn in place ({@code \r}) at most five
 * times a second, with count/total, rate and ETA. Elsewhere (logs, CI): a plain line when at least
 * 10 s have passed and another tenth of the job is done, whichever comes later, so a log gets at
 * most ten lines per job. {@link #finish()} always writes the final line.
 */
final class ProgressBar {

    static final long REDRAW_NANOS = 200_000_000L;
    static final long LOG_NANOS = 10_000_000_000L;
    private static final int BAR_WIDTH = 24;

    private final PrintStream err;
    private final boolean terminal;
    private final LongSupplier nanoClock;
    private final String label;
    private final String unit;
    private final long total;
    private final long startNanos;
    private long done;
    private boolean drawn;
    private long lastOutputNanos;
    private long loggedDone;
    private int width;

    ProgressBar(String label, String unit, long total, PrintStream err, boolean terminal, LongSupplier nanoClock) {
        this.label = label;
        this.unit = unit;
        this.total = total;
        this.err = err;
        this.terminal = terminal;
        this.nanoClock = nanoClock;
        this.startNanos = nanoClock.getAsLong();
        this.lastOutputNanos = startNanos;
    }

    /** A bar on this process's stderr, redrawn in place when stdout and stdin are a terminal. */
    static ProgressBar onConsole(String label, String unit, long total) {
        return new ProgressBar(label, unit, total, System.err, System.console() != null, System::nanoTime);
    }

    synchronized void update(long newDone) {
        done = newDone;
        long now = nanoClock.getAsLong();
        if (terminal) {
            if (drawn && now - lastOutputNanos < REDRAW_NANOS) return;
            draw(now);
        } else {
            boolean anotherTenth = total > 0 && done * 10 / total > loggedDone * 10 / total;
            if (done >= total || !anotherTenth || now - lastOutputNanos < LOG_NANOS) return;
            err.println(line(now));
            loggedDone = done;
        }
        lastOutputNanos = now;
    }

    /** The final state, on its own line. */
    synchronized void finish() {
        long now = nanoClock.getAsLong();
        if (terminal) {
            draw(now);
            err.println();
        } else {
            err.println(line(now));
        }
        drawn = false;
    }

    /** Wipes the bar off the terminal line so another message can be printed; the next update redraws it. */
    synchronized void clear() {
        if (!terminal || !drawn) return;
        err.print("\r" + " ".repeat(width) + "\r");
        err.flush();
        drawn = false;
    }

    private void draw(long now) {
        String s = line(now);
        err.print("\r" + s + (s.length() < width ? " ".repeat(width - s.length()) : ""));
        err.flush();
        width = s.length();
        drawn = true;
    }

    /** {@code label [#####.....] done/total  pct%  rate unit/s  ETA m:ss}, or elapsed time when done. */
    String line(long now) {
        double seconds = (now - startNanos) / 1e9;
        double rate = seconds > 0 ? done / seconds : 0;
        StringBuilder sb = new StringBuilder(label).append(' ');
        if (total > 0) {
            int filled = (int) Math.min(BAR_WIDTH, done * BAR_WIDTH / total);
            sb.append('[').append("#".repeat(filled)).append(".".repeat(BAR_WIDTH - filled)).append("] ");
        }
        sb.append(done).append('/').append(total);
        if (total > 0) sb.append(String.format(Locale.ROOT, " %3d%%", done * 100 / total));
        sb.append(String.format(Locale.ROOT, "  %.1f %s/s", rate, unit));
        if (done >= total) sb.append("  in ").append(clock(seconds));
        else sb.append("  ETA ").append(rate > 0 ? clock((total - done) / rate) : "?");
        return sb.toString();
    }

    static String clock(double seconds) {
        long s = Math.round(seconds);
        if (s >= 3600) return String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
        return String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
    }

    /**
     * A {@link ProgressListener} that gives each phase of a data job its own bar ("prepare-labels
     * features train", then "prepare-labels labels train", ...).
     */
    static final class Phases implements ProgressListener {
        private final String command;
        private final String unit;
        private final PrintStream err;
        private final boolean terminal;
        private final LongSupplier nanoClock;
        private String phase;
        private ProgressBar bar;

        Phases(String command, String unit, PrintStream err, boolean terminal, LongSupplier nanoClock) {
            this.command = command;
            this.unit = unit;
            this.err = err;
            this.terminal = terminal;
            this.nanoClock = nanoClock;
        }

        static Phases onConsole(String command, String unit) {
            return new Phases(command, unit, System.err, System.console() != null, System::nanoTime);
        }

        @Override
        public synchronized void progress(String newPhase, long done, long total) {
            if (!newPhase.equals(phase)) {
                finish();
                phase = newPhase;
                bar = new ProgressBar(command + " " + newPhase, unit, total, err, terminal, nanoClock);
            }
            bar.update(done);
        }

        /** Ends the current phase's bar (call once the job is over). */
        synchronized void finish() {
            if (bar != null) bar.finish();
            bar = null;
            phase = null;
        }
    }
}
