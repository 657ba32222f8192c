package io.mert.allreduce;

import io.aeron.Aeron;
import io.aeron.ExclusivePublication;
import io.mert.protocol.frame.AllReduceFrame;
import io.mert.protocol.frame.WireFormat;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.management.ManagementFactory;
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
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/** Ring allreduce over a real embedded media driver, ranks as threads with their own Aeron clients. */
class RingAllReduceTest {

    private static EmbeddedDriver driver;
    private static final AtomicInteger STREAMS = new AtomicInteger(2000);
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

    /** N ranks, each with an Aeron client, a receive endpoint and a ring allreduce. */
    private static final class Ring implements AutoCloseable {
        final List<Aeron> clients = new ArrayList<>();
        final List<RingAllReduce> ranks = new ArrayList<>();
        final List<DataPlaneEndpoint> endpoints = new ArrayList<>();

        Ring(int n, boolean udp, Duration timeout) {
            this(n, udp, timeout, WireFormat.FP32);
        }

        Ring(int n, boolean udp, Duration timeout, WireFormat wire) {
            this(n, udp, AllReduceConfig.defaults().withPeerTimeout(timeout).withWire(wire));
        }

        Ring(int n, boolean udp, AllReduceConfig config) {
            for (int i = 0; i < n; i++) {
                Aeron a = AeronClients.connect(driver.aeronDirectoryName());
                clients.add(a);
                DataPlaneEndpoint e = udp
                        ? new DataPlaneEndpoint("aeron:udp?endpoint=127.0.0.1:" + (24000 + STREAMS.incrementAndGet()), 7)
                        : new DataPlaneEndpoint("aeron:ipc", STREAMS.incrementAndGet());
                endpoints.add(e);
                ranks.add(new RingAllReduce(a, e, config));
            }
        }

        void generation(long g) {
            for (int i = 0; i < ranks.size(); i++) ranks.get(i).startGeneration(g, i, endpoints);
        }

        @Override
        public void close() {
            ranks.forEach(RingAllReduce::close);
            clients.forEach(Aeron::close);
        }
    }

    private static UnsafeBuffer floats(float[] values) {
        UnsafeBuffer b = new UnsafeBuffer(ByteBuffer.allocateDirect(Math.max(4, values.length * 4)).order(ByteOrder.nativeOrder()));
        for (int i = 0; i < values.length; i++) b.putFloat(i * 4, values[i]);
        return b;
    }

    /** Runs one allreduce on every rank concurrently; returns each rank's buffer. */
    private static List<UnsafeBuffer> reduce(Ring ring, float[][] inputs, long step) throws Exception {
        List<UnsafeBuffer> bufs = new ArrayList<>();
        List<Future<?>> futures = new ArrayList<>();
        for (int r = 0; r < inputs.length; r++) {
            UnsafeBuffer b = floats(inputs[r]);
            bufs.add(b);
            RingAllReduce ar = ring.ranks.get(r);
            int n = inputs[r].length;
            futures.add(POOL.submit((Callable<Void>) () -> {
                ar.allreduce(b, n, step);
                return null;
            }));
        }
        for (Future<?> f : futures) f.get(60, TimeUnit.SECONDS);
        return bufs;
    }

    /** One rank's allreduce on the pool: its PeerFailureException, or null when it completed. */
    private static Future<PeerFailureException> failureOf(RingAllReduce rank, UnsafeBuffer b, int n, long step) {
        return POOL.submit(() -> {
            try {
                rank.allreduce(b, n, step);
                return null;
            } catch (PeerFailureException e) {
                return e;
            }
        });
    }

    private static void checkSum(float[][] inputs, List<UnsafeBuffer> out) {
        int n = inputs[0].length;
        for (int i = 0; i < n; i++) {
            double sum = 0, abs = 0;
            for (float[] in : inputs) {
                sum += in[i];
                abs += Math.abs(in[i]);
            }
            double tol = inputs.length * Math.ulp((float) abs) + 1e-30;
            for (int r = 0; r < out.size(); r++) {
                float got = out.get(r).getFloat(i * 4);
                assertEquals(sum, got, tol, "element " + i + " of rank " + r + " (n=" + n + ", ranks=" + inputs.length + ")");
                // every rank holds the very same bits
                assertEquals(Float.floatToRawIntBits(out.get(0).getFloat(i * 4)), Float.floatToRawIntBits(got));
            }
        }
    }

    private static float[][] random(Random rnd, int ranks, int n) {
        float[][] x = new float[ranks][n];
        for (float[] row : x) for (int i = 0; i < n; i++) row[i] = (float) (rnd.nextGaussian() * Math.pow(10, rnd.nextInt(5) - 2));
        return x;
    }

    @Test
    void sumsMatchAFloat64ReferenceForManySizesAndRankCounts() throws Exception {
        Random rnd = new Random(1);
        int[] sizes = {0, 1, 2, 3, 7, 13, 97, 2027, 2028, 2029, 4057, 10_007, 65_537, 1_000_003}; // chunks of 2028 floats
        for (int n = 1; n <= 5; n++) {
            try (Ring ring = new Ring(n, false, Duration.ofSeconds(10))) {
                ring.generation(1);
                long step = 0;
                for (int size : sizes) {
                    if (n > 3 && size > 100_000) continue;
                    float[][] in = random(rnd, n, size);
                    checkSum(in, reduce(ring, in, step++));
                }
            }
        }
    }

    @Test
    void chunksForwardedStraightFromTheLogAndFromTheBufferSumAlike() throws Exception {
        // a 64 KiB term leaves a 32 KiB window (4 chunks): forwards often find it full and take the buffered path
        AllReduceConfig small = new AllReduceConfig(8192, 64 << 10, Duration.ofSeconds(10));
        Random rnd = new Random(3);
        for (int n = 2; n <= 4; n++) {
            try (Ring ring = new Ring(n, false, small)) {
                ring.generation(1);
                for (int step = 0; step < 3; step++) {
                    float[][] in = random(rnd, n, 300_001);
                    checkSum(in, reduce(ring, in, step));
                }
                long direct = 0, buffered = 0;
                for (RingAllReduce r : ring.ranks) {
                    direct += r.directForwards();
                    buffered += r.bufferedSends();
                }
                int ownChunks = (300_001 / n + 2027) / 2028; // per rank and operation: its own segment's chunks (37+: enough for direct forwarding)
                assertTrue(direct > 0, "no chunk was forwarded straight from the log");
                assertTrue(buffered > 3L * n * ownChunks, "no forward took the buffered path: " + buffered + " buffered sends");
            }
        }
    }

    @Test
    void heapBackedBuffersAreSummedToo() throws Exception {
        try (Ring ring = new Ring(3, false, Duration.ofSeconds(10))) {
            ring.generation(1);
            float[][] in = random(new Random(6), 3, 20_011);
            List<UnsafeBuffer> bufs = new ArrayList<>();
            List<Future<?>> futures = new ArrayList<>();
            for (int r = 0; r < 3; r++) {
                // a byte[] with the floats at an odd offset: the raw add must use the array base, not an address
                UnsafeBuffer b = new UnsafeBuffer(new byte[4 * in[r].length + 12], 4, 4 * in[r].length);
                for (int i = 0; i < in[r].length; i++) b.putFloat(i * 4, in[r][i]);
                bufs.add(b);
                RingAllReduce ar = ring.ranks.get(r);
                futures.add(POOL.submit((Callable<Void>) () -> {
                    ar.allreduce(b, 20_011, 0);
                    return null;
                }));
            }
            for (Future<?> f : futures) f.get(60, TimeUnit.SECONDS);
            checkSum(in, bufs);
        }
    }

    @Test
    void worksOverUdpOnLoopback() throws Exception {
        try (Ring ring = new Ring(3, true, Duration.ofSeconds(10))) {
            ring.generation(1);
            Random rnd = new Random(2);
            for (int step = 0; step < 3; step++) {
                float[][] in = random(rnd, 3, 50_001);
                checkSum(in, reduce(ring, in, step));
            }
        }
    }

    @Test
    void aSilentPeerFailsTheOperationWithinTheTimeoutAndTheSurvivorsGoOn() throws Exception {
        try (Ring ring = new Ring(3, false, Duration.ofMillis(1500))) {
            ring.generation(1);
            float[][] in = random(new Random(3), 3, 30_000);
            checkSum(in, reduce(ring, in, 0));
            // rank 2 does not take part in step 1
            List<Future<PeerFailureException>> f = new ArrayList<>();
            for (int r = 0; r < 2; r++) f.add(failureOf(ring.ranks.get(r), floats(in[r]), 30_000, 1));
            long t0 = System.nanoTime();
            PeerFailureException e0 = f.get(0).get(20, TimeUnit.SECONDS);
            assertNotNull(e0, "rank 0 must not complete without rank 2");
            assertEquals(2, e0.peerRank(), "rank 0 receives from rank 2");
            assertNotNull(f.get(1).get(20, TimeUnit.SECONDS));
            assertTrue((System.nanoTime() - t0) / 1e9 < 10, "failure must be reported about the timeout");

            // generation 2 with the survivors, reusing the same objects
            List<DataPlaneEndpoint> survivors = ring.endpoints.subList(0, 2);
            ring.ranks.get(0).startGeneration(2, 0, survivors);
            ring.ranks.get(1).startGeneration(2, 1, survivors);
            float[][] in2 = random(new Random(4), 2, 12_345);
            List<UnsafeBuffer> bufs = new ArrayList<>();
            List<Future<?>> done = new ArrayList<>();
            for (int r = 0; r < 2; r++) {
                UnsafeBuffer b = floats(in2[r]);
                bufs.add(b);
                RingAllReduce ar = ring.ranks.get(r);
                done.add(POOL.submit((Callable<Void>) () -> {
                    ar.allreduce(b, 12_345, 1);
                    return null;
                }));
            }
            for (Future<?> d : done) d.get(30, TimeUnit.SECONDS);
            checkSum(in2, bufs);
        }
    }

    @Test
    void aStreamHeldBackByAnUnpolledSubscriptionIsNamedAsSuch() throws Exception {
        try (Ring ring = new Ring(2, true, Duration.ofMillis(1500))) {
            // what a worker node that never closed its Aeron client leaves in the driver: a second, idle reader
            Aeron leaked = AeronClients.connect(driver.aeronDirectoryName());
            DataPlaneEndpoint rank1 = ring.endpoints.get(1);
            leaked.addSubscription(rank1.channel(), rank1.streamId());
            ring.generation(1);
            int n = 200_000; // 800 KB: far past the first receiver window of 128 KiB
            float[][] in = random(new Random(5), 2, n);
            List<Future<PeerFailureException>> f = new ArrayList<>();
            for (int r = 0; r < 2; r++) f.add(failureOf(ring.ranks.get(r), floats(in[r]), n, 0));
            PeerFailureException atRank1 = f.get(1).get(20, TimeUnit.SECONDS);
            f.get(0).get(20, TimeUnit.SECONDS);
            assertNotNull(atRank1, "the stream into rank 1 cannot pass its first window");
            assertTrue(atRank1.getMessage().contains("2 subscriptions in this host's media driver read that stream"), atRank1.getMessage());

            leaked.close();
            ring.generation(2);
            checkSum(in, reduce(ring, in, 1));
        }
    }

    @Test
    void staleAndForgedFramesAreDroppedAndTheResultIsUnchanged() throws Exception {
        try (Ring ring = new Ring(2, false, Duration.ofSeconds(10))) {
            ring.generation(5);
            // an old generation's sender and a forged sender rank write into rank 1's stream first
            Aeron a = ring.clients.get(0);
            DataPlaneEndpoint target = ring.endpoints.get(1);
            try (ExclusivePublication p = a.addExclusivePublication(target.channel(), target.streamId())) {
                UnsafeBuffer frame = new UnsafeBuffer(ByteBuffer.allocateDirect(AllReduceFrame.length(4, WireFormat.FP32)));
                long deadline = System.nanoTime() + 5_000_000_000L;
                int offered = 0;
                long[][] headers = {{4, 0, 0}, {5, -1, 0}, {5, 0, 1}}; // old generation, old step, wrong sender
                while (offered < headers.length && System.nanoTime() < deadline) {
                    long[] h = headers[offered];
                    AllReduceFrame.writeHeader(frame, 0, h[0], h[1], 0, (int) h[2], 0, 0, 4, 2, WireFormat.FP32);
                    for (int i = 0; i < 4; i++) frame.putFloat(AllReduceFrame.HEADER_LENGTH + i * 4, 1e9f);
                    if (p.offer(frame, 0, AllReduceFrame.length(4, WireFormat.FP32)) > 0) offered++;
                }
                assertEquals(3, offered);
                // the forged frames sit in a second image of rank 1's subscription; operations poll images
                // round-robin, so a few operations of many chunks are sure to reach them
                Random rnd = new Random(5);
                for (int step = 0; step < 4; step++) {
                    float[][] in = random(rnd, 2, 100_000);
                    checkSum(in, reduce(ring, in, step));
                }
                assertEquals(3, ring.ranks.get(1).droppedFrames(), "forged frames dropped");
            }
        }
    }

    @ParameterizedTest(name = "{0} wire")
    @EnumSource(WireFormat.class)
    void steadyStateAllocatesNothingPerOperation(WireFormat wire) throws Exception {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        try (Ring ring = new Ring(2, false, Duration.ofSeconds(10), wire)) {
            ring.generation(1);
            UnsafeBuffer b0 = floats(new float[100_000]), b1 = floats(new float[100_000]);
            RingAllReduce r0 = ring.ranks.get(0), r1 = ring.ranks.get(1);
            long[] allocated = new long[1];
            // a float32 tail too, as the trainer sends its statistics
            Future<?> other = POOL.submit((Callable<Void>) () -> {
                for (int s = 0; s < 300; s++) r1.allreduce(b1, 100_000, 7, s);
                return null;
            });
            long tid = Thread.currentThread().getId();
            for (int s = 0; s < 300; s++) {
                if (s == 100) allocated[0] = mx.getThreadAllocatedBytes(tid);
                r0.allreduce(b0, 100_000, 7, s);
            }
            long perOp = (mx.getThreadAllocatedBytes(tid) - allocated[0]) / 200;
            other.get(60, TimeUnit.SECONDS);
            assertTrue(perOp < 64, "allocated " + perOp + " bytes per allreduce on the calling thread");
        }
    }

    @Test
    void bf16WireCarriesInfinitiesAndNaNsAlikeToEveryRank() throws Exception {
        try (Ring ring = new Ring(3, false, Duration.ofSeconds(10), WireFormat.BF16)) {
            ring.generation(1);
            float inf = Float.POSITIVE_INFINITY, max = Float.MAX_VALUE;
            float[][] in = {
                    {inf, inf, 1f, Float.NaN, -inf, max, 1f, 3e38f, 2f},
                    {1f, -inf, 2f, 1f, -1f, 0f, 0f, 3e38f, 3f},
                    {2f, 0f, 3f, 2f, 0f, 0f, Float.NaN, 3e38f, 4f}};
            // max float rounds to infinity in bfloat16 (above the largest bfloat16 by more than half a step);
            // 3e38 three times overflows float32 on the way
            float[] expected = {inf, Float.NaN, 6f, Float.NaN, -inf, inf, Float.NaN, inf, 9f};
            List<UnsafeBuffer> out = reduce(ring, in, 0);
            for (int i = 0; i < expected.length; i++) {
                int bits = Float.floatToRawIntBits(out.get(0).getFloat(4 * i));
                for (int r = 0; r < 3; r++) {
                    float got = out.get(r).getFloat(4 * i);
                    assertEquals(bits, Float.floatToRawIntBits(got), "rank " + r + " element " + i + ": the same bits everywhere");
                    assertEquals(expected[i], got, "rank " + r + " element " + i); // assertEquals(float) treats NaN == NaN
                }
            }
        }
    }
}
