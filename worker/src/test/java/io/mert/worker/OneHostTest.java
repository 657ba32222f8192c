package io.mert.worker;

import io.mert.allreduce.DataPlaneEndpoint;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Which rings {@code allreduce_transport: shm} accepts as one host. */
class OneHostTest {

    private static DataPlaneEndpoint udp(String hostPort) {
        return new DataPlaneEndpoint("aeron:udp?endpoint=" + hostPort, 7);
    }

    @Test
    void ipcRingsAndUdpRingsOnOneAddressAreOneHost() {
        assertNull(OneHost.whyNot(List.of(new DataPlaneEndpoint("aeron:ipc", 1001), new DataPlaneEndpoint("aeron:ipc", 1002))));
        assertNull(OneHost.whyNot(List.of(udp("10.0.0.5:4000"), udp("10.0.0.5:4001"), udp("10.0.0.5:4002"))));
        assertNull(OneHost.whyNot(List.of(udp("10.0.0.5:4000"))));
    }

    @Test
    void ringsAcrossAddressesAreRefusedNamingTheRank() {
        String why = OneHost.whyNot(List.of(udp("10.0.0.5:4000"), udp("10.0.0.5:4001"), udp("10.0.0.6:4000")));
        assertNotNull(why);
        assertTrue(why.contains("rank 2") && why.contains("10.0.0.6"), why);
        assertNotNull(OneHost.whyNot(List.of(new DataPlaneEndpoint("aeron:ipc", 1), udp("127.0.0.1:4000"))));
    }
}
