package io.mert.allreduce;

/**
 * Where a rank receives allreduce frames: an Aeron channel ({@code aeron:ipc} on one host,
 * {@code aeron:udp?endpoint=host:port} between hosts) and a stream id.
 */
public record DataPlaneEndpoint(String channel, int streamId) {
    public DataPlaneEndpoint {
        if (!channel.startsWith("aeron:ipc") && !channel.startsWith("aeron:udp")) {
            throw new IllegalArgumentException("data-plane channel must be aeron:ipc or aeron:udp?endpoint=HOST:PORT, got " + channel);
        }
    }
}
