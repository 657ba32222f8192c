package io.mert.allreduce;

import io.aeron.driver.MediaDriver;
import io.aeron.driver.ThreadingMode;
import org.agrona.concurrent.BackoffIdleStrategy;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;

/**
 * An Aeron media driver inside this JVM, in a directory of its own that is deleted on close. One per
 * process; every worker of the process connects its Aeron client to it, so workers on one host
 * exchange frames over shared memory (IPC).
 */
public final class EmbeddedDriver implements AutoCloseable {

    private final MediaDriver driver;

    private EmbeddedDriver(MediaDriver driver) {
        this.driver = driver;
    }

    /** Launches a driver under /dev/shm when it exists (memory-backed), else the temp directory. */
    public static EmbeddedDriver launch() {
        Path base = Files.isDirectory(Path.of("/dev/shm")) && Files.isWritable(Path.of("/dev/shm"))
                ? Path.of("/dev/shm") : Path.of(System.getProperty("java.io.tmpdir"));
        String dir = base.resolve("mert-aeron-" + UUID.randomUUID()).toString();
        MediaDriver.Context ctx = new MediaDriver.Context()
                .aeronDirectoryName(dir)
                .threadingMode(ThreadingMode.SHARED)
                // parks when idle: the driver must not take a core from training
                .sharedIdleStrategy(new BackoffIdleStrategy(10, 20, 1_000, 100_000))
                .dirDeleteOnStart(true)
                .dirDeleteOnShutdown(true)
                .termBufferSparseFile(true)
                .ipcTermBufferLength(4 << 20)
                .publicationTermBufferLength(4 << 20)
                .spiesSimulateConnection(false)
                .warnIfDirectoryExists(false)
                // see AeronClients: a loaded host must not make the driver drop its clients after 10 s
                .clientLivenessTimeoutNs(AeronClients.nanos(AeronClients.LIVENESS_TIMEOUT_MS))
                .publicationUnblockTimeoutNs(AeronClients.nanos(AeronClients.PUBLICATION_UNBLOCK_TIMEOUT_MS))
                .driverTimeoutMs(AeronClients.LIVENESS_TIMEOUT_MS);
        // The driver keeps its own error handler: it records each distinct error once in the driver's
        // error log (aeron's ErrorStat reads it) instead of a log line per occurrence.
        return new EmbeddedDriver(MediaDriver.launch(ctx));
    }

    public String aeronDirectoryName() {
        return driver.aeronDirectoryName();
    }

    @Override
    public void close() {
        driver.close();
        File dir = new File(driver.aeronDirectoryName());
        if (dir.exists()) org.agrona.IoUtil.delete(dir, true);
    }
}
