package io.mert.allreduce;

import io.aeron.Aeron;
import io.aeron.ChannelUri;
import io.aeron.CommonContext;
import io.aeron.ExclusivePublication;
import io.aeron.Subscription;
import io.aeron.protocol.DataHeaderFlyweight;
import io.mert.protocol.frame.AllReduceFrame;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.DatagramSocket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Issue 9: frames that do not come from the current generation's upstream peer never change a result.
 * A 3-rank ring over UDP on loopback runs repeated allreduces of integer-valued data (so every float
 * sum is exact) while an attacker with its own Aeron client listens on the victims' channels and
 * sends them forged, replayed, truncated, oversized and garbage frames.
 */
class ForgedFrameTest {

    private static final int RANKS = 3;
    private static final AllReduceConfig CONFIG = AllReduceConfig.defaults().withPeerTimeout(Duration.ofSeconds(10));
    private static final int CHUNK_FLOATS = (CONFIG.mtuBytes() - DataHeaderFlyweight.HEADER_LENGTH - AllReduceFrame.HEADER_LENGTH) / 4;
    private static final int MAX_PAYLOAD = CONFIG.mtuBytes() - DataHeaderFlyweight.HEADER_LENGTH;

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
        return AeronClients.connect(driver.aeronDirectoryName());
    }

    static int freeUdpPort() throws Exception {
        try (DatagramSocket s = new DatagramSocket(0)) {
            return s.getLocalPort();
        }
    }

    /** The operation the ring is running now, published to the attacker. */
    private record Op(long generation, long step, int floats) {
    }

    /** The geometry RingAllReduce uses, rebuilt here so the attacker can forge frames that fit it. */
    private static int[] segment(int floats, int segment) {
        int base = floats / RANKS, extra = floats % RANKS, start = 0;
        for (int s = 0; s < segment; s++) start += base + (s < extra ? 1 : 0);
        return new int[]{start, base + (segment < extra ? 1 : 0)};
    }

    private static int receiveSegment(int rank, int round) {
        int r = round < RANKS - 1 ? rank - round - 1 : rank - (round - (RANKS - 1));
        return Math.floorMod(r, RANKS);
    }

    /**
     * Listens on every victim's channel (capturing genuine frames) and, until stopped, sends each victim
     * a mix of six kinds of bad frames from publications of its own.
     */
    private static final class Attacker implements Runnable {
        static final String[] KINDS = {"forged for the current step", "captured frame of the current step",
                "truncated", "oversized", "replay of an earlier step", "garbage"};

        final Aeron aeron = client();
        final List<DataPlaneEndpoint> victims;
        final ExclusivePublication[] pubs = new ExclusivePublication[RANKS];
        final Subscription[] taps = new Subscription[RANKS];
        final List<ArrayDeque<byte[]>> captured = new ArrayList<>();
        final long[] offeredFragments = new long[RANKS];
        final long[] offeredByKind = new long[KINDS.length];
        final Random rnd = new Random(99);
        final UnsafeBuffer out = new UnsafeBuffer(ByteBuffer.allocateDirect(4 * CONFIG.mtuBytes()));
        volatile Op op;
        volatile boolean stop;

        Attacker(List<DataPlaneEndpoint> victims) {
            this.victims = victims;
            for (int v = 0; v < RANKS; v++) {
                DataPlaneEndpoint e = victims.get(v);
                ChannelUri uri = ChannelUri.parse(e.channel());
                uri.put(CommonContext.MTU_LENGTH_PARAM_NAME, Integer.toString(CONFIG.mtuBytes()));
                pubs[v] = aeron.addExclusivePublication(uri.toString(), e.streamId());
                taps[v] = aeron.addSubscription(e.channel(), e.streamId());
                captured.add(new ArrayDeque<>());
            }
        }

        @Override
        public void run() {
            try {
                attackUntilStopped();
            } finally {
                // an idle tap would hold back the victims' images (a subscriber that does not poll stops the flow)
                for (Subscription tap : taps) tap.close();
            }
        }

        private void attackUntilStopped() {
            int kind = 0;
            while (!stop) {
                for (int v = 0; v < RANKS; v++) {
                    int victim = v;
                    // a tap is one more subscriber of the victim's images: it must keep up, or it holds back the ring
                    taps[v].poll((buffer, offset, length, header) -> {
                        if (header.sessionId() == pubs[victim].sessionId() || length < AllReduceFrame.HEADER_LENGTH) return;
                        byte[] copy = new byte[length];
                        buffer.getBytes(offset, copy);
                        ArrayDeque<byte[]> q = captured.get(victim);
                        q.addLast(copy);
                        if (q.size() > 512) q.removeFirst();
                    }, 64);
                }
                Op now = op;
                if (now != null) {
                    for (int v = 0; v < RANKS; v++) attack(v, kind, now);
                    kind = (kind + 1) % KINDS.length;
                }
                LockSupport.parkNanos(100_000);
            }
        }

        private void attack(int victim, int kind, Op now) {
            int length;
            switch (kind) {
                case 0 -> length = forge(victim, now);
                case 1 -> length = capturedCopy(victim, now.step(), true);
                case 2 -> {
                    int full = rnd.nextBoolean() ? forge(victim, now) : capturedCopy(victim, now.step(), true);
                    length = full <= 0 ? -1 : rnd.nextInt(full);
                }
                case 3 -> {
                    int full = forge(victim, now);
                    if (full < 0) return;
                    // a few extra bytes, or a message of several MTUs that arrives as fragments
                    length = rnd.nextBoolean() ? full + 4 * (1 + rnd.nextInt(8)) : full + 2 * MAX_PAYLOAD + rnd.nextInt(100);
                    for (int i = full; i < length; i++) out.putByte(i, (byte) rnd.nextInt());
                }
                case 4 -> length = capturedCopy(victim, now.step(), false);
                default -> {
                    length = 1 + rnd.nextInt(MAX_PAYLOAD);
                    for (int i = 0; i < length; i++) out.putByte(i, (byte) rnd.nextInt());
                    if (rnd.nextBoolean() && length >= 16) { // garbage behind a header of the current operation
                        out.putLong(AllReduceFrame.GENERATION_OFFSET, now.generation(), AllReduceFrame.ORDER);
                        out.putLong(AllReduceFrame.STEP_OFFSET, now.step(), AllReduceFrame.ORDER);
                    }
                }
            }
            if (length < 0) return;
            if (pubs[victim].offer(out, 0, length) > 0) {
                offeredFragments[victim] += length == 0 ? 1 : (length + MAX_PAYLOAD - 1) / MAX_PAYLOAD;
                offeredByKind[kind]++;
            }
        }

        /** A frame for the current operation that fits the victim's geometry exactly, with false values. */
        private int forge(int victim, Op now) {
            int round = rnd.nextInt(2 * (RANKS - 1));
            int[] seg = segment(now.floats(), receiveSegment(victim, round));
            int chunks = (seg[1] + CHUNK_FLOATS - 1) / CHUNK_FLOATS;
            if (chunks == 0) return -1;
            int chunk = rnd.nextInt(chunks);
            int first = seg[0] + chunk * CHUNK_FLOATS;
            int count = Math.min(CHUNK_FLOATS, seg[0] + seg[1] - first);
            AllReduceFrame.writeHeader(out, 0, now.generation(), now.step(), round, (victim + RANKS - 1) % RANKS,
                    chunk, first, count, RANKS);
            for (int i = 0; i < count; i++) out.putFloat(AllReduceFrame.HEADER_LENGTH + 4 * i, 1e6f, AllReduceFrame.ORDER);
            return AllReduceFrame.length(count);
        }

        /** A captured genuine frame of the current step (or, with current false, of an earlier one), copied to out. */
        private int capturedCopy(int victim, long step, boolean current) {
            for (byte[] f : captured.get(victim)) {
                UnsafeBuffer b = new UnsafeBuffer(f);
                long s = AllReduceFrame.step(b, 0);
                if (current ? s == step : s < step) {
                    out.putBytes(0, f);
                    return f.length;
                }
            }
            return -1;
        }

        void close() {
            for (ExclusivePublication p : pubs) p.close();
            aeron.close();
        }
    }

    private static UnsafeBuffer floats(float[] values) {
        UnsafeBuffer b = new UnsafeBuffer(ByteBuffer.allocateDirect(Math.max(4, values.length * 4)).order(ByteOrder.nativeOrder()));
        for (int i = 0; i < values.length; i++) b.putFloat(i * 4, values[i]);
        return b;
    }

    /** Runs one allreduce on every rank at once; each future yields null when it completed, else what it threw. */
    private static List<Future<Throwable>> launch(List<RingAllReduce> ranks, List<UnsafeBuffer> bufs, int n, long step) {
        List<Future<Throwable>> f = new ArrayList<>();
        for (int r = 0; r < RANKS; r++) {
            RingAllReduce ar = ranks.get(r);
            UnsafeBuffer b = bufs.get(r);
            f.add(POOL.submit((Callable<Throwable>) () -> {
                try {
                    ar.allreduce(b, n, step);
                    return null;
                } catch (Throwable t) {
                    return t;
                }
            }));
        }
        return f;
    }

    @Test
    void attackerFramesAreDroppedAndEveryCompletedResultIsExact() throws Exception {
        List<Aeron> clients = new ArrayList<>();
        List<RingAllReduce> ranks = new ArrayList<>();
        List<DataPlaneEndpoint> endpoints = new ArrayList<>();
        for (int r = 0; r < RANKS; r++) {
            clients.add(client());
            endpoints.add(new DataPlaneEndpoint("aeron:udp?endpoint=127.0.0.1:" + freeUdpPort(), 11));
            ranks.add(new RingAllReduce(clients.get(r), endpoints.get(r), CONFIG));
        }
        Attacker attacker = new Attacker(endpoints);
        Future<?> attack = POOL.submit(attacker);
        Random rnd = new Random(7);
        int[] sizes = {1, 2, 5, 2030, 2031, 6091, 20_000, 3, 50_001, 12_289};
        long generation = 1, step = 0;
        int completed = 0, aborted = 0;
        try {
            for (RingAllReduce ar : ranks) ar.startGeneration(generation, ranks.indexOf(ar), endpoints);
            for (int i = 0; i < 16; i++) {
                int n = sizes[i % sizes.length];
                float[][] in = new float[RANKS][n];
                for (float[] row : in) for (int k = 0; k < n; k++) row[k] = rnd.nextInt(2001) - 1000;
                for (int attempt = 1; ; attempt++) { // a step that aborts is redone in a new generation, as the trainer does
                    assertFalse(attack.isDone(), "the attacker stopped early");
                    assertTrue(attempt <= 3, "step " + step + " aborted " + (attempt - 1) + " times in a row");
                    List<UnsafeBuffer> bufs = new ArrayList<>();
                    for (float[] row : in) bufs.add(floats(row));
                    attacker.op = new Op(generation, step, n);
                    List<Future<Throwable>> done = launch(ranks, bufs, n, step);
                    boolean allDone = true;
                    for (int r = 0; r < RANKS; r++) {
                        Throwable t = done.get(r).get(60, TimeUnit.SECONDS);
                        if (t == null) {
                            assertExactSum(in, bufs.get(r), r, step);
                        } else {
                            assertInstanceOf(PeerFailureException.class, t, "an aborted allreduce throws PeerFailureException");
                            allDone = false;
                        }
                    }
                    step++;
                    if (allDone) {
                        completed++;
                        break;
                    }
                    aborted++;
                    generation++;
                    for (RingAllReduce ar : ranks) ar.startGeneration(generation, ranks.indexOf(ar), endpoints);
                }
            }
        } finally {
            attacker.stop = true;
            attack.get(30, TimeUnit.SECONDS); // rethrows what stopped the attacker, if anything did
        }
        try {
            for (int kind = 0; kind < Attacker.KINDS.length; kind++) {
                assertTrue(attacker.offeredByKind[kind] > 0, "the attacker sent frames of kind: " + Attacker.KINDS[kind]);
            }
            // a few clean operations let every victim consume what the attacker sent last
            for (int drain = 0; drain < 20 && !allSeen(ranks, attacker); drain++) {
                List<UnsafeBuffer> bufs = new ArrayList<>();
                for (int r = 0; r < RANKS; r++) bufs.add(floats(new float[30_000]));
                for (Future<Throwable> f : launch(ranks, bufs, 30_000, step)) assertNull(f.get(60, TimeUnit.SECONDS));
                step++;
            }
            for (int v = 0; v < RANKS; v++) {
                RingAllReduce ar = ranks.get(v);
                // old generations' sessions (after an abort) add genuine but foreign frames on top of the attacker's
                if (aborted == 0) {
                    assertEquals(attacker.offeredFragments[v], ar.droppedForeign(), "rank " + v + ": every attacker fragment dropped as foreign");
                } else {
                    assertTrue(ar.droppedForeign() >= attacker.offeredFragments[v], "rank " + v + " dropped the attacker's fragments");
                }
                // nothing from the genuine upstream session was ever bad
                assertEquals(0, ar.droppedStale(), "rank " + v + " stale");
                assertEquals(0, ar.droppedMalformed(), "rank " + v + " malformed");
            }
            assertEquals(16, completed);
            System.out.printf("ForgedFrameTest: %d steps exact, %d aborted and redone; attacker frames by kind %s; "
                            + "foreign fragments dropped per rank %d/%d/%d%n", completed, aborted,
                    java.util.Arrays.toString(attacker.offeredByKind), ranks.get(0).droppedForeign(),
                    ranks.get(1).droppedForeign(), ranks.get(2).droppedForeign());
        } finally {
            attacker.close();
            ranks.forEach(RingAllReduce::close);
            clients.forEach(Aeron::close);
        }
    }

    private static boolean allSeen(List<RingAllReduce> ranks, Attacker attacker) {
        for (int v = 0; v < RANKS; v++) if (ranks.get(v).droppedForeign() < attacker.offeredFragments[v]) return false;
        return true;
    }

    /** Integer-valued inputs below 2^24 in magnitude: the float32 sum is exact in any order. */
    private static void assertExactSum(float[][] in, UnsafeBuffer got, int rank, long step) {
        for (int k = 0; k < in[0].length; k++) {
            long sum = 0;
            for (float[] row : in) sum += (long) row[k];
            float value = got.getFloat(4 * k);
            if (value != (float) sum) {
                fail("rank " + rank + ", step " + step + ", element " + k + ": " + value + " instead of " + sum);
            }
        }
    }
}
