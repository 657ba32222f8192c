package io.mert.allreduce;

import io.aeron.Aeron;
import io.aeron.ChannelUri;
import io.aeron.CommonContext;
import io.aeron.ExclusivePublication;
import io.aeron.Subscription;
import io.mert.protocol.frame.AllReduceFrame;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * What rank 1 of a 2-rank ring does with bad frames inside its upstream's own session. The test plays
 * rank 0 itself: it publishes with the session id rank 0 would use, so its frames pass the session
 * check and reach the per-frame checks (this is also what a host able to spoof that session could do).
 */
class UpstreamSessionTest {

    private static final long GENERATION = 3;
    private static final int N = 10; // one chunk per segment: segment 0 = floats 0..4, segment 1 = 5..9

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

    /** Rank 1 under test, and the pieces the test uses to act as rank 0. */
    private static final class Setup implements AutoCloseable {
        final Aeron aeron = AeronClients.connect(driver.aeronDirectoryName());
        final DataPlaneEndpoint rank0;
        final DataPlaneEndpoint rank1;
        final RingAllReduce victim;
        final Subscription rank0Inbox;
        final ExclusivePublication asRank0;
        final UnsafeBuffer out = new UnsafeBuffer(ByteBuffer.allocateDirect(32 * 1024));
        final UnsafeBuffer data = new UnsafeBuffer(ByteBuffer.allocateDirect(4 * N).order(ByteOrder.nativeOrder()));

        /** Each test its own streams: a closed publication lingers in the driver with its session id. */
        Setup(int streamBase) {
            rank0 = new DataPlaneEndpoint("aeron:ipc", streamBase);
            rank1 = new DataPlaneEndpoint("aeron:ipc", streamBase + 1);
            victim = new RingAllReduce(aeron, rank1, AllReduceConfig.defaults().withPeerTimeout(Duration.ofSeconds(3)));
            rank0Inbox = aeron.addSubscription(rank0.channel(), rank0.streamId()); // so rank 1 can send
            victim.startGeneration(GENERATION, 1, List.of(rank0, rank1));
            ChannelUri uri = ChannelUri.parse(rank1.channel());
            uri.put(CommonContext.SESSION_ID_PARAM_NAME, Integer.toString(RingAllReduce.sessionId(GENERATION, 0)));
            uri.put(CommonContext.MTU_LENGTH_PARAM_NAME, "8192");
            asRank0 = aeron.addExclusivePublication(uri.toString(), rank1.streamId());
            for (int i = 0; i < N; i++) data.putFloat(4 * i, 100 + i);
        }

        Future<Throwable> allreduce(long step) {
            return POOL.submit((Callable<Throwable>) () -> {
                try {
                    victim.allreduce(data, N, step);
                    return null;
                } catch (Throwable t) {
                    return t;
                }
            });
        }

        /** A frame as rank 0 sends it: round 0 carries segment 0 (floats 0..4), round 1 segment 1 (5..9). */
        int frame(long step, int round, float value) {
            int first = round == 0 ? 0 : 5;
            AllReduceFrame.writeHeader(out, 0, GENERATION, step, round, 0, 0, first, 5, 2);
            for (int i = 0; i < 5; i++) out.putFloat(AllReduceFrame.HEADER_LENGTH + 4 * i, value, AllReduceFrame.ORDER);
            return AllReduceFrame.length(5);
        }

        void send(int length) {
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (asRank0.offer(out, 0, length) < 0) {
                assertTrue(System.nanoTime() < deadline, "could not publish to rank 1");
                Thread.onSpinWait();
            }
        }

        /** Sends a well-formed round-0 frame for step, then alters one header field to an invalid value. */
        void sendWithBadInt(long step, int fieldOffset, int value) {
            int length = frame(step, 0, 1f);
            out.putInt(fieldOffset, value, AllReduceFrame.ORDER);
            send(length);
        }

        @Override
        public void close() {
            asRank0.close();
            rank0Inbox.close();
            victim.close();
            aeron.close();
        }
    }

    @Test
    void badFramesInTheUpstreamSessionAreDroppedAndTheResultIsExact() throws Exception {
        try (Setup s = new Setup(5100)) {
            long step = 7;
            s.send(s.frame(step - 1, 0, 1f));                                          // stale step
            s.send(s.frame(step, 0, 1f) - 4);                                          // truncated
            s.send(s.frame(step, 0, 1f) + 4);                                          // oversized
            s.send(s.frame(step, 0, 1f) + 2 * 8160);                                   // 3 fragments
            s.send(10);                                                                // shorter than a header
            s.sendWithBadInt(step, AllReduceFrame.SENDER_OFFSET, 1);                   // wrong sender
            s.sendWithBadInt(step, AllReduceFrame.WORLD_SIZE_OFFSET, 3);               // wrong ring
            s.sendWithBadInt(step, AllReduceFrame.FLOAT_OFFSET_OFFSET, 1);             // wrong offset
            s.sendWithBadInt(step, AllReduceFrame.COUNT_OFFSET, 4);                    // wrong count
            s.sendWithBadInt(step, AllReduceFrame.CHUNK_OFFSET, 1);                    // no such chunk
            s.sendWithBadInt(step, AllReduceFrame.ROUND_OFFSET, 2);                    // no such round
            s.send(s.frame(step, 0, 1000f));                                           // round 0: segment 0 += 1000
            s.send(s.frame(step, 1, 5000f));                                           // round 1: segment 1 := 5000
            assertNull(s.allreduce(step).get(30, TimeUnit.SECONDS));
            for (int i = 0; i < N; i++) {
                float expected = i < 5 ? 100 + i + 1000f : 5000f;
                assertEquals(expected, s.data.getFloat(4 * i), "element " + i);
            }
            assertEquals(1, s.victim.droppedStale());
            assertEquals(1 + 1 + 3 + 1 + 6, s.victim.droppedMalformed(), "truncated, oversized, 3 fragments, short, 6 bad fields");
            assertEquals(0, s.victim.droppedForeign());
        }
    }

    @Test
    void aRepeatedChunkAbortsTheStepInsteadOfAddingTwice() throws Exception {
        try (Setup s = new Setup(5200)) {
            long step = 1;
            s.send(s.frame(step, 0, 1000f));
            s.send(s.frame(step, 0, 1000f)); // the same (round, chunk) again: one of the two cannot be genuine
            s.send(s.frame(step, 1, 5000f));
            Throwable t = s.allreduce(step).get(30, TimeUnit.SECONDS);
            CorruptStreamException e = assertInstanceOf(CorruptStreamException.class, t);
            assertEquals(0, e.peerRank(), "the stream of rank 0");
            assertTrue(e.getMessage().contains("arrived twice"), e.getMessage());
            // the chunk was added once, never twice
            for (int i = 0; i < 5; i++) assertEquals(100 + i + 1000f, s.data.getFloat(4 * i), "element " + i);
        }
    }
}
