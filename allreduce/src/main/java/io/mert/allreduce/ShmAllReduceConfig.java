package io.mert.allreduce;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;

/**
 * Settings of {@link ShmAllReduce}.
 *
 * @param directory   where every rank maps its file: a memory file system ({@code /dev/shm}) so that the
 *                    buffers never reach a disk; every rank of a job must name the same directory
 * @param chunkBytes  the unit in which a rank publishes progress (a multiple of 64 in [4 KiB, 16 MiB]): peers
 *                    start on a chunk as soon as it is published, so smaller chunks overlap more and cost
 *                    more counter traffic
 * @param peerTimeout a peer that shows no sign of life (heartbeat, progress) this long ends the operation
 *                    with {@link PeerFailureException}
 */
public record ShmAllReduceConfig(Path directory, int chunkBytes, Duration peerTimeout) {

    public ShmAllReduceConfig {
        Objects.requireNonNull(directory, "directory");
        if (chunkBytes < 4096 || chunkBytes > (16 << 20) || chunkBytes % 64 != 0) {
            throw new IllegalArgumentException("chunkBytes must be a multiple of 64 in [4096, 16 MiB], got " + chunkBytes);
        }
        if (peerTimeout.isNegative() || peerTimeout.isZero()) throw new IllegalArgumentException("peerTimeout must be positive");
    }

    /**
     * {@code /dev/shm} when it exists (else the JVM's temporary directory), 1 MiB chunks, 10 s timeout. 1 MiB took
     * less rank CPU than 64 KiB in every alternated pair of {@code mert bench allreduce --transport shm --shm-chunk}
     * with 2 and 4 ranks at 16 and 64 MiB, and less time in most (docs/benchmarks.md).
     */
    public static ShmAllReduceConfig defaults() {
        Path shm = Path.of("/dev/shm");
        Path dir = Files.isDirectory(shm) && Files.isWritable(shm) ? shm : Path.of(System.getProperty("java.io.tmpdir"));
        return new ShmAllReduceConfig(dir, 1 << 20, Duration.ofSeconds(10));
    }

    public ShmAllReduceConfig withPeerTimeout(Duration timeout) {
        return new ShmAllReduceConfig(directory, chunkBytes, timeout);
    }

    public ShmAllReduceConfig withDirectory(Path dir) {
        return new ShmAllReduceConfig(dir, chunkBytes, peerTimeout);
    }

    public ShmAllReduceConfig withChunkBytes(int bytes) {
        return new ShmAllReduceConfig(directory, bytes, peerTimeout);
    }
}
