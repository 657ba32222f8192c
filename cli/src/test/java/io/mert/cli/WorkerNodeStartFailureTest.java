package io.mert.cli;

import io.aeron.Aeron;
import io.aeron.ExclusivePublication;
import io.aeron.Subscription;
import io.mert.allreduce.AeronClients;
import io.mert.allreduce.DataPlaneEndpoint;
import io.mert.allreduce.EmbeddedDriver;
import io.mert.worker.WorkerSettings;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A worker node that cannot start (its cluster port is still held, as when `mert worker` replaces a node whose
 * transport has not let go of it yet) must release its data-plane subscription. The media driver outlives the
 * node, and Aeron advances an image only as far as its slowest subscription: a forgotten one stalls every later
 * stream to this worker after the first receiver window (CI saw each allreduce stop at 16 frames of 8 KiB).
 */
class WorkerNodeStartFailureTest {

    private static final int FRAMES = 256; // 2 MiB: sixteen receiver windows

    @Test
    void aNodeThatCannotBindItsPortLeavesNoSubscriptionThatStallsTheNextOne() throws Exception {
        int dataPort = LocalCluster.freePort();
        DataPlaneEndpoint endpoint = new DataPlaneEndpoint("aeron:udp?endpoint=127.0.0.1:" + dataPort, 1001);
        try (EmbeddedDriver driver = EmbeddedDriver.launch();
             ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            WorkerSettings settings = new WorkerSettings("w", endpoint, "cpu");
            assertThrows(RuntimeException.class, () -> WorkerNode.start("127.0.0.1", taken.getLocalPort(),
                    "127.0.0.1:" + LocalCluster.freePort(), driver.aeronDirectoryName(), settings));

            try (Aeron receiver = Aeron.connect(AeronClients.context(driver.aeronDirectoryName(), lost -> { }));
                 Aeron sender = Aeron.connect(AeronClients.context(driver.aeronDirectoryName(), lost -> { }));
                 Subscription subscription = receiver.addSubscription(endpoint.channel(), endpoint.streamId());
                 ExclusivePublication publication = sender.addExclusivePublication(
                         endpoint.channel() + "|mtu=8192|term-length=4194304", endpoint.streamId())) {
                assertEquals(FRAMES, stream(publication, subscription),
                        "frames received before the stream stalled: a subscription of the failed node holds it back");
            }
        }
    }

    /** Sends FRAMES frames and returns how many arrived before the stream went quiet for 5 s. */
    private static int stream(ExclusivePublication publication, Subscription subscription) throws InterruptedException {
        long connectBy = System.nanoTime() + 10_000_000_000L;
        while (!publication.isConnected()) {
            assertTrue(System.nanoTime() < connectBy, "the publication never connected");
            Thread.sleep(1);
        }
        UnsafeBuffer frame = new UnsafeBuffer(ByteBuffer.allocateDirect(8000));
        int[] received = {0};
        int sent = 0;
        long lastProgress = System.nanoTime();
        while (received[0] < FRAMES && System.nanoTime() - lastProgress < 5_000_000_000L) {
            if (sent < FRAMES && publication.offer(frame, 0, frame.capacity()) > 0) sent++;
            if (subscription.poll((buffer, offset, length, header) -> received[0]++, 16) > 0) lastProgress = System.nanoTime();
            else Thread.onSpinWait();
        }
        return received[0];
    }
}
