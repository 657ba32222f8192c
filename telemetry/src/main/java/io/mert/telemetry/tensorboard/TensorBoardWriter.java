package io.mert.telemetry.tensorboard;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Locale;
import java.util.function.DoubleSupplier;

/**
 * Appends scalars to a new TensorBoard event file {@code events.out.tfevents.<epochSeconds>.<host>.<pid>}
 * in a directory (a resumed run adds another file there; TensorBoard reads them in name order).
 * Every event is flushed at once so a live {@code tensorboard --logdir} sees it. Logging must never
 * stop training: the first write error is logged and the writer turns itself off.
 */
public final class TensorBoardWriter implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(TensorBoardWriter.class);

    private final Path file;
    private final DoubleSupplier clockSeconds;
    private OutputStream out;

    private TensorBoardWriter(Path file, OutputStream out, DoubleSupplier clockSeconds) {
        this.file = file;
        this.out = out;
        this.clockSeconds = clockSeconds;
    }

    /** Opens a fresh event file in {@code dir} (wall clock in seconds); null, with a warning, if that fails. */
    public static TensorBoardWriter open(Path dir) {
        return open(dir, () -> System.currentTimeMillis() / 1000.0, hostName(), ProcessHandle.current().pid());
    }

    /** As {@link #open(Path)}, with the clock, host name and pid given (tests). */
    public static TensorBoardWriter open(Path dir, DoubleSupplier clockSeconds, String host, long pid) {
        double now = clockSeconds.getAsDouble();
        try {
            Files.createDirectories(dir);
            String base = String.format(Locale.ROOT, "events.out.tfevents.%010d.%s.%d", (long) now, host, pid);
            for (int n = 0; ; n++) {
                Path f = dir.resolve(n == 0 ? base : base + "." + n);
                try {
                    OutputStream o = Files.newOutputStream(f, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                    TensorBoardWriter w = new TensorBoardWriter(f, o, clockSeconds);
                    w.write(TfEvent.fileVersion(now));
                    return w.enabled() ? w : null;
                } catch (FileAlreadyExistsException e) {
                    if (n > 100) throw e;
                }
            }
        } catch (IOException e) {
            LOG.warn("TensorBoard event file in {} cannot be created ({}); training goes on without it", dir, e.toString());
            return null;
        }
    }

    public Path file() {
        return file;
    }

    public synchronized boolean enabled() {
        return out != null;
    }

    public void scalars(long step, List<TfEvent.Scalar> values) {
        write(TfEvent.scalars(clockSeconds.getAsDouble(), step, values));
    }

    /** Marks a restart at {@code step}: TensorBoard forgets what this run logged for that step and later. */
    public void sessionStart(long step) {
        write(TfEvent.sessionStart(clockSeconds.getAsDouble(), step));
    }

    public synchronized void write(TfEvent event) {
        if (out == null) return;
        try {
            TfRecords.write(out, event.encode());
            out.flush();
        } catch (IOException e) {
            LOG.warn("writing TensorBoard events to {} failed ({}); TensorBoard logging is off for this run", file, e.toString());
            closeQuietly();
        }
    }

    @Override
    public synchronized void close() {
        closeQuietly();
    }

    private void closeQuietly() {
        if (out == null) return;
        try {
            out.close();
        } catch (IOException e) {
            LOG.warn("closing {}: {}", file, e.toString());
        }
        out = null;
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName().replaceAll("[^A-Za-z0-9._-]", "_");
        } catch (IOException e) {
            return "localhost";
        }
    }
}
