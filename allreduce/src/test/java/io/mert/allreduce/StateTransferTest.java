package io.mert.allreduce;

import io.aeron.Aeron;
import io.aeron.ChannelUri;
import io.aeron.CommonContext;
import io.aeron.ExclusivePublication;
import io.aeron.Subscription;
import io.mert.protocol.frame.AllReduceFrame;
import org.agrona.concurrent.AtomicBuffer;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** State transfer along the ring (donor to the other ranks) over a real embedded media driver, ranks as threads. */
class StateTransferTest {

    private static EmbeddedDriver driver;
    private static final ExecutorService POOL = Executors.newCachedThreadPool();

    @BeforeAll
    static void start() {
        driver = EmbeddedDriver.launch();
    }

    @AfterAll
    static void stop() {
        POOL.shutdownNow();
        driver.close();
    }

    private static Aeron client() {
        return Aeron.connect(new Aeron.Context().aeronDirectoryName(driver.aeronDirectoryName()));
    }

    private static UnsafeBuffer randomBits(Random rnd, int floats) {
        UnsafeBuffer b = new UnsafeBuffer(ByteBuffer.allocateDirect(Math.max(4, 4 * floats)).order(ByteOrder.nativeOrder()));
        for (int i = 0; i < floats; i++) b.putInt(4 * i, rnd.nextInt()); // any bits: NaN payloads, -0.0, denormals
        return b;
    }

    private static UnsafeBuffer copy(UnsafeBuffer b) {
        UnsafeBuffer c = new UnsafeBuffer(ByteBuffer.allocateDirect(b.capacity()).order(ByteOrder.nativeOrder()));
        c.putBytes(0, b, 0, b.capacity());
        return c;
    }

    private static boolean same(AtomicBuffer a, AtomicBuffer b) {
        if (a.capacity() != b.capacity()) return false;
        for (int i = 0; i < a.capacity(); i++) if (a.getByte(i) != b.getByte(i)) return false;
        return true;
    }

    @Test
    void everyRankEndsWithTheDonorsExactBitsAndTheRingStillReducesAfterwards() throws Exception {
        int n = 4, donor = 1, current = 3; // ranks 0 and 2 receive; rank 3 already holds the state and only relays
        int[] counts = {16, 0, 100_003, 4_999};
        Random rnd = new Random(7);
        UnsafeBuffer[] truth = new UnsafeBuffer[counts.length];
        for (int p = 0; p < counts.length; p++) truth[p] = randomBits(rnd, counts[p]);
        List<Aeron> clients = new ArrayList<>();
        List<RingAllReduce> ranks = new ArrayList<>();
        List<DataPlaneEndpoint> endpoints = new ArrayList<>();
        for (int r = 0; r < n; r++) endpoints.add(new DataPlaneEndpoint("aeron:ipc", 3100 + r));
        try {
            for (int r = 0; r < n; r++) {
                clients.add(client());
                ranks.add(new RingAllReduce(clients.get(r), endpoints.get(r), AllReduceConfig.defaults()));
            }
            for (int r = 0; r < n; r++) ranks.get(r).startGeneration(4, r, endpoints);
            UnsafeBuffer[][] state = new UnsafeBuffer[n][counts.length];
            for (int r = 0; r < n; r++) {
                for (int p = 0; p < counts.length; p++) {
                    state[r][p] = r == donor || r == current ? copy(truth[p]) : randomBits(rnd, counts[p]);
                }
            }
            List<Future<Long>> moved = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                int rank = r;
                moved.add(POOL.submit(() -> ranks.get(rank).transferState(state[rank], counts, donor,
                        rank != donor && rank != current, Duration.ofSeconds(30))));
            }
            long bytes = 4L * (16 + 100_003 + 4_999);
            for (Future<Long> f : moved) assertEquals(bytes, f.get(60, TimeUnit.SECONDS));
            for (int r = 0; r < n; r++) {
                for (int p = 0; p < counts.length; p++) assertTrue(same(truth[p], state[r][p]), "rank " + r + " part " + p);
            }
            for (RingAllReduce r : ranks) assertEquals(0, r.droppedFrames());

            // the generation's allreduce works after the transfer, and state frames never leak into it
            List<UnsafeBuffer> grads = new ArrayList<>();
            List<Future<?>> steps = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                UnsafeBuffer g = new UnsafeBuffer(ByteBuffer.allocateDirect(4 * 9_001).order(ByteOrder.nativeOrder()));
                for (int i = 0; i < 9_001; i++) g.putFloat(4 * i, r + 1);
                grads.add(g);
                RingAllReduce ar = ranks.get(r);
                steps.add(POOL.submit((Callable<Void>) () -> {
                    ar.allreduce(g, 9_001, 0);
                    return null;
                }));
            }
            for (Future<?> f : steps) f.get(60, TimeUnit.SECONDS);
            for (UnsafeBuffer g : grads) for (int i = 0; i < 9_001; i += 997) assertEquals(10f, g.getFloat(4 * i));
        } finally {
            ranks.forEach(RingAllReduce::close);
            clients.forEach(Aeron::close);
        }
    }

    @Test
    void aSilentDonorEndsTheTransferWithinTheIdleTimeoutNamingIt() throws Exception {
        List<DataPlaneEndpoint> endpoints = List.of(new DataPlaneEndpoint("aeron:ipc", 3200), new DataPlaneEndpoint("aeron:ipc", 3201),
                new DataPlaneEndpoint("aeron:ipc", 3202));
        try (Aeron a = client();
             RingAllReduce r0 = new RingAllReduce(a, endpoints.get(0), AllReduceConfig.defaults());
             RingAllReduce r1 = new RingAllReduce(a, endpoints.get(1), AllReduceConfig.defaults())) {
            r0.startGeneration(2, 0, endpoints); // rank 0 is the donor and never starts
            r1.startGeneration(2, 1, endpoints);
            UnsafeBuffer[] parts = {randomBits(new Random(1), 5000)};
            long t0 = System.nanoTime();
            PeerFailureException e = assertThrows(PeerFailureException.class,
                    () -> r1.transferState(parts, new int[]{5000}, 0, true, Duration.ofMillis(1500)));
            assertEquals(0, e.peerRank());
            assertTrue(e.getMessage().contains("state-transfer"), e.getMessage());
            assertTrue((System.nanoTime() - t0) / 1e9 < 20, "reported about the timeout");
        }
    }

    @Test
    void misfitFramesAreDroppedAndARepeatedChunkAbortsTheTransfer() throws Exception {
        long generation = 9;
        DataPlaneEndpoint rank0 = new DataPlaneEndpoint("aeron:ipc", 3300), rank1 = new DataPlaneEndpoint("aeron:ipc", 3301);
        try (Aeron a = client();
             RingAllReduce victim = new RingAllReduce(a, rank1, AllReduceConfig.defaults());
             Subscription rank0Inbox = a.addSubscription(rank0.channel(), rank0.streamId())) {
            victim.startGeneration(generation, 1, List.of(rank0, rank1));
            ChannelUri uri = ChannelUri.parse(rank1.channel());
            uri.put(CommonContext.SESSION_ID_PARAM_NAME, Integer.toString(RingAllReduce.sessionId(generation, 0)));
            uri.put(CommonContext.MTU_LENGTH_PARAM_NAME, "8192");
            try (ExclusivePublication asRank0 = a.addExclusivePublication(uri.toString(), rank1.streamId())) {
                UnsafeBuffer out = new UnsafeBuffer(ByteBuffer.allocateDirect(16 * 1024));
                int count = (8192 - 32 - AllReduceFrame.HEADER_LENGTH) / Float.BYTES; // a full chunk at the default MTU (less Aeron's 32-byte header): the part below takes two
                int[][] headers = {
                        {0, 0, 0},                                     // an allreduce round: misfit
                        {AllReduceFrame.STATE_TRANSFER_ROUND, 0, 7},  // wrong offset: misfit
                        {AllReduceFrame.STATE_TRANSFER_ROUND, 5, 0},  // a chunk out of order: misfit
                        {AllReduceFrame.STATE_TRANSFER_ROUND, 0, 0},  // fine
                        {AllReduceFrame.STATE_TRANSFER_ROUND, 0, 0},  // chunk 0 again: the stream is corrupt
                };
                for (int[] h : headers) {
                    AllReduceFrame.writeHeader(out, 0, generation, AllReduceFrame.STATE_TRANSFER_STEP, h[0], 0, h[1], h[2], count, 2,
                            io.mert.protocol.frame.WireFormat.FP32);
                    long deadline = System.nanoTime() + 5_000_000_000L;
                    while (asRank0.offer(out, 0, AllReduceFrame.length(count, io.mert.protocol.frame.WireFormat.FP32)) < 0) {
                        assertTrue(System.nanoTime() < deadline, "could not publish to rank 1");
                        Thread.onSpinWait();
                    }
                }
                UnsafeBuffer[] parts = {randomBits(new Random(2), 3000)};
                CorruptStreamException e = assertThrows(CorruptStreamException.class,
                        () -> victim.transferState(parts, new int[]{3000}, 0, true, Duration.ofSeconds(10)));
                assertEquals(0, e.peerRank());
                assertEquals(3, victim.droppedMalformed());
            }
        }
    }
}
