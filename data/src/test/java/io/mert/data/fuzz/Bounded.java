package io.mert.data.fuzz;

import org.junit.jupiter.api.function.ThrowingSupplier;

import java.lang.management.ManagementFactory;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Runs a reader on hostile input and checks the three things a long-running trainer needs from it:
 * it ends (a generous hang detector, not a speed requirement), it allocates no more than a budget
 * that follows the real input size (so a forged length cannot drive allocation), and it fails, if at
 * all, only with the exception type it documents.
 */
public final class Bounded {
    /** Far above any legitimate parse of our small inputs, even on a loaded 2-core machine. */
    public static final Duration HANG = Duration.ofSeconds(20);

    private Bounded() {}

    /** The outcome: a value, or the documented exception. */
    public record Outcome<T>(T value, Throwable error) {
        public boolean ok() { return error == null; }
    }

    public static <T> Outcome<T> run(Class<? extends Throwable> documented, long maxAllocatedBytes, ThrowingSupplier<T> reader) {
        return assertTimeoutPreemptively(HANG, () -> {
            com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
            long before = mx.getCurrentThreadAllocatedBytes();
            Outcome<T> out;
            try {
                out = new Outcome<>(reader.get(), null);
            } catch (Throwable t) {
                if (!documented.isInstance(t)) fail("undocumented " + t.getClass().getName() + ": " + t.getMessage(), t);
                out = new Outcome<>(null, t);
            }
            long used = mx.getCurrentThreadAllocatedBytes() - before;
            assertTrue(used <= maxAllocatedBytes, "allocated " + used + " bytes, budget " + maxAllocatedBytes);
            return out;
        }, "reader ran longer than " + HANG + ": a hang");
    }

    /** As {@link #run} and additionally requires any error message to contain {@code name}. */
    public static <T> Outcome<T> runNaming(Class<? extends Throwable> documented, String name, long maxAllocatedBytes,
                                           ThrowingSupplier<T> reader) {
        Outcome<T> o = run(documented, maxAllocatedBytes, reader);
        if (!o.ok()) {
            String msg = String.valueOf(o.error().getMessage());
            assertTrue(msg.contains(name), "message does not name " + name + ": " + msg);
        }
        return o;
    }
}
