package io.mert.worker;

import io.aeron.ChannelUri;
import io.mert.allreduce.DataPlaneEndpoint;

import java.util.List;

/**
 * Whether a generation's ranks all run on one host, as {@code distributed_training.allreduce_transport: shm} needs:
 * judged from their data-plane endpoints, conservatively (all {@code aeron:ipc}, which share one media driver, or all
 * UDP endpoints with the very same host).
 */
final class OneHost {

    private OneHost() {
    }

    /** @return null when every rank is on one host; otherwise why not, for the error message */
    static String whyNot(List<DataPlaneEndpoint> ring) {
        String first = null;
        for (int r = 0; r < ring.size(); r++) {
            String host = host(ring.get(r).channel());
            if (first == null) first = host;
            else if (!first.equals(host)) {
                return "rank 0 receives on " + ring.get(0).channel() + " and rank " + r + " on " + ring.get(r).channel()
                        + ": not one host";
            }
        }
        return null;
    }

    /** "ipc" for an IPC channel, else the endpoint's host. */
    private static String host(String channel) {
        if (channel.startsWith("aeron:ipc")) return "ipc";
        String endpoint = ChannelUri.parse(channel).get("endpoint");
        if (endpoint == null) return channel;
        int colon = endpoint.lastIndexOf(':');
        return colon < 0 ? endpoint : endpoint.substring(0, colon);
    }
}
