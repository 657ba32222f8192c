package io.mert.allreduce;

import io.aeron.Aeron;
import io.aeron.exceptions.DriverTimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Aeron clients and drivers with liveness timeouts and error handling fit for a trainer.
 *
 * <p>Aeron's defaults suit latency-critical services: a client whose driver has not been heard from
 * for 10 s is declared dead, and the default error handler then calls {@code System.exit}. On a
 * loaded host or across a long GC pause that kills a training process for a hiccup (seen in CI on an
 * overloaded machine). Here the timeout is {@link #LIVENESS_TIMEOUT_MS}, and a lost driver is handed
 * to the caller, which stops its node so that a fresh one rejoins; the process never exits from here.
 */
public final class AeronClients {
    private static final Logger LOG = LoggerFactory.getLogger(AeronClients.class);

    /** Driver/client liveness timeout: longer than any pause a healthy loaded host shows. */
    public static final long LIVENESS_TIMEOUT_MS = 30_000;
    /** Must exceed the client liveness timeout (Aeron validates this). */
    static final long PUBLICATION_UNBLOCK_TIMEOUT_MS = 2 * LIVENESS_TIMEOUT_MS;

    private AeronClients() {
    }

    /**
     * Connects a client to the driver in {@code aeronDirectory}.
     *
     * @param onDriverLost called once, from Aeron's conductor thread, when the driver stops answering;
     *                     the client is closed by then and must be replaced
     */
    public static Aeron connect(String aeronDirectory, Consumer<Throwable> onDriverLost) {
        return connect(aeronDirectory, LIVENESS_TIMEOUT_MS, onDriverLost);
    }

    static Aeron connect(String aeronDirectory, long driverTimeoutMs, Consumer<Throwable> onDriverLost) {
        return Aeron.connect(context(aeronDirectory, driverTimeoutMs, onDriverLost));
    }

    /** The context {@link #connect} uses, for callers that add to it (a close handler, say). */
    public static Aeron.Context context(String aeronDirectory, Consumer<Throwable> onDriverLost) {
        return context(aeronDirectory, LIVENESS_TIMEOUT_MS, onDriverLost);
    }

    private static Aeron.Context context(String aeronDirectory, long driverTimeoutMs, Consumer<Throwable> onDriverLost) {
        return new Aeron.Context()
                .aeronDirectoryName(aeronDirectory)
                .driverTimeoutMs(driverTimeoutMs)
                .errorHandler(t -> {
                    if (t instanceof DriverTimeoutException) {
                        LOG.error("Aeron media driver at {} not heard from for {} ms; this node's data plane is lost",
                                aeronDirectory, driverTimeoutMs);
                        onDriverLost.accept(t);
                    } else {
                        LOG.warn("Aeron client: {}", t.toString());
                    }
                });
    }

    /** A client for tests and benchmarks, where a lost driver is only logged. */
    public static Aeron connect(String aeronDirectory) {
        return connect(aeronDirectory, t -> { });
    }

    static long nanos(long millis) {
        return TimeUnit.MILLISECONDS.toNanos(millis);
    }
}
