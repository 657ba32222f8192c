package io.mert.allreduce;

import io.aeron.driver.MediaDriver;
import io.aeron.driver.ThreadingMode;
import org.agrona.IoUtil;
import org.agrona.concurrent.BackoffIdleStrategy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.File;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;

/**
 * An Aeron media driver inside this JVM, in a directory of its own that is deleted on close. One per
 * process; every worker of the process connects its Aeron client to it, so workers on one host
 * exchange frames over shared memory (IPC). The directory's name carries the process's pid and start
 * time: a SIGKILLed worker cannot delete its directory (tens of MiB of log buffers in /dev/shm, that
 * is memory), so each launch deletes those of processes that no longer run.
 */
public final class EmbeddedDriver implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedDriver.class);

    private final MediaDriver driver;

    private EmbeddedDriver(MediaDriver driver) {
        this.driver = driver;
    }

    /**
     * Room a driver's directory should find free: its control file plus 4 MiB-term log buffers for the ring's
     * publication, image and state transfers (a trained worker's directory held about 50 MiB here).
     */
    static final long MIN_FREE_BYTES = 128L << 20;

    /**
     * Launches a driver under /dev/shm when it exists with {@link #MIN_FREE_BYTES} free (memory-backed), else in the
     * temp directory (disk-backed, with a warning): a log buffer that outgrows a full tmpfs stops its stream for good.
     */
    public static EmbeddedDriver launch() {
        return launch(Path.of("/dev/shm"), Path.of(System.getProperty("java.io.tmpdir")), MIN_FREE_BYTES);
    }

    static EmbeddedDriver launch(Path memory, Path disk, long minFreeBytes) {
        Path base = disk;
        if (Files.isDirectory(memory) && Files.isWritable(memory)) {
            deleteDirectoriesOfDeadProcesses(memory);
            long free = usableBytes(memory);
            if (free >= minFreeBytes) {
                base = memory;
            } else {
                LOG.warn("{} has {} MiB free, less than the {} MiB an Aeron media driver needs; using {} instead (disk-backed, "
                        + "slower). Give {} more room: docker run --shm-size, the chart's workers.shmSize", memory, free >> 20,
                        minFreeBytes >> 20, disk, memory);
            }
        }
        if (base == disk) deleteDirectoriesOfDeadProcesses(disk);
        String dir = base.resolve(PREFIX + ProcessIdentity.PID + "-" + ProcessIdentity.STARTED_MILLIS + "-" + UUID.randomUUID()).toString();
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
        long freeBefore = usableBytes(base);
        try {
            return new EmbeddedDriver(MediaDriver.launch(ctx));
        } catch (InternalError mappedFileFault) {
            // what the JVM makes of SIGBUS when a mapped file cannot grow: the file system is full
            IoUtil.delete(new File(dir), true);
            throw new IllegalStateException("the Aeron media driver could not write its files in " + base + " ("
                    + (freeBefore >> 20) + " MiB were free): is that file system full?", mappedFileFault);
        }
    }

    private static long usableBytes(Path dir) {
        try {
            return Files.getFileStore(dir).getUsableSpace();
        } catch (IOException e) {
            return Long.MAX_VALUE; // unknown: let the driver try
        }
    }

    private static final String PREFIX = "mert-aeron-";

    /** Deletes {@code base/mert-aeron-PID-START-*} directories whose process no longer runs; returns how many. */
    static int deleteDirectoriesOfDeadProcesses(Path base) {
        int deleted = 0;
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(base, PREFIX + "*")) {
            for (Path d : dirs) {
                String[] owner = d.getFileName().toString().substring(PREFIX.length()).split("-", 3);
                long pid, started;
                try {
                    pid = Long.parseLong(owner[0]);
                    started = Long.parseLong(owner[1]);
                } catch (RuntimeException e) {
                    continue; // named by an older version: its owner is unknown
                }
                boolean ours = owner.length == 3 && (started == 0 || started > 1_000_000_000_000L); // not a random UUID's digits
                if (!ours || ProcessIdentity.running(pid, started)) continue;
                IoUtil.delete(d.toFile(), true);
                if (!Files.exists(d)) deleted++;
            }
        } catch (IOException e) {
            // a sweep that fails leaves memory behind, nothing worse
        }
        if (deleted > 0) LOG.info("deleted {} Aeron directories of processes that no longer run under {}", deleted, base);
        return deleted;
    }

    public String aeronDirectoryName() {
        return driver.aeronDirectoryName();
    }

    @Override
    public void close() {
        driver.close();
        File dir = new File(driver.aeronDirectoryName());
        if (dir.exists()) IoUtil.delete(dir, true);
    }
}
