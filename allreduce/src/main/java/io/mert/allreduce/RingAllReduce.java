package io.mert.allreduce;

import io.aeron.Aeron;
import io.aeron.AeronCounters;
import io.aeron.ChannelUri;
import io.aeron.CommonContext;
import io.aeron.ExclusivePublication;
import io.aeron.Publication;
import io.aeron.Subscription;
import io.aeron.logbuffer.BufferClaim;
import io.aeron.logbuffer.ControlledFragmentHandler;
import io.aeron.logbuffer.FrameDescriptor;
import io.aeron.logbuffer.Header;
import io.aeron.driver.status.StreamCounter;
import io.aeron.protocol.DataHeaderFlyweight;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;
import org.agrona.UnsafeApi;
import org.agrona.concurrent.AtomicBuffer;
import org.agrona.concurrent.BackoffIdleStrategy;
import org.agrona.concurrent.IdleStrategy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;

import io.mert.protocol.frame.AllReduceFrame;
import io.mert.protocol.frame.BFloat16;
import io.mert.protocol.frame.WireFormat;

import static io.mert.protocol.frame.AllReduceFrame.*;

/**
 * In-place sum of a flat float32 buffer across the ranks of a generation: a ring allreduce over
 * Aeron (reduce-scatter, then all-gather), streamed in chunks of one frame each.
 *
 * <p>The buffer is cut into one segment per rank. In round {@code R} a rank sends the segment it
 * completed in round {@code R-1} to the next rank, and receives (and adds, or in the gather rounds
 * copies) another from the previous rank. Because the segment sent in round {@code R+1} is exactly
 * the one received in round {@code R}, each received chunk can be forwarded at once: chunks stream
 * around the ring instead of waiting for whole segments. In large operations a float32 chunk is forwarded from the
 * upstream's log into this rank's claim as it is read, when the publication has room; otherwise it goes through the
 * buffer and a send queue ({@link #directForwards()}, {@link #bufferedSends()}).
 *
 * <p>What a rank accepts: only complete (unfragmented) frames from the Aeron session of its upstream
 * neighbour's publication for the current generation. Both ends derive that session id from
 * (generation, sender rank) ({@link #sessionId}), so no control message is needed; frames of any
 * other publication are dropped and counted as foreign. Within the upstream session, frames carry
 * (generation, step, round, sender, chunk): frames of an older step are dropped as stale, frames of a
 * later one are left in the stream for the operation they belong to, and anything whose sender,
 * world size, offset, count or length does not fit the current geometry is dropped as malformed. A
 * (round, chunk) that arrives twice aborts the operation with {@link CorruptStreamException}: a
 * genuine upstream never repeats a chunk, and as either copy could be the injected one, the partial
 * sums can no longer be trusted. A neighbour silent for longer than the peer timeout ends the
 * operation with {@link PeerFailureException}; the object is then ready for the next generation.
 * Steady state allocates nothing.
 *
 * <p>Wire format: a generation's values travel as float32 (exact) or, when it is started with
 * {@link WireFormat#BF16}, as bfloat16 (half the bytes; a frame then holds twice the values). With
 * bfloat16 every rank still adds in float32: a received chunk is widened and added to the float32
 * partial sum, which is rounded to bfloat16 (nearest even) only to be sent on. The rank that completes a
 * segment rounds its float32 sum to bfloat16 in its own buffer before the all-gather sends it, so every
 * rank ends with the same bfloat16-valued floats, bit for bit (replicas must not drift apart). The last
 * {@code float32Tail} floats of a buffer (statistics that must stay exact, such as counts) always
 * travel as float32. Every frame names its format; a frame whose format is not the one its chunk uses
 * is dropped as malformed and counted in {@link #droppedWrongWire()}.
 *
 * <p>This keeps stray, stale and malformed traffic out; it is not authentication: the session id
 * travels in clear in every datagram, so a host that can send spoofed UDP with that session id could
 * still inject data. Run the data plane on a private network.
 *
 * <p>Not thread-safe: one operation at a time, from one thread.
 */
public final class RingAllReduce implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(RingAllReduce.class);
    private static final int FRAGMENT_LIMIT = 32;
    /**
     * Direct forwarding only for segments of more chunks than this (256 KiB of float32): large operations are bound by
     * memory traffic, which it cuts; small ones by latency, and there 4 KiB operations measured slower with it
     * (docs/benchmarks.md), for a reason not found.
     */
    private static final int DIRECT_FORWARD_MIN_CHUNKS = 32;
    private static final boolean NATIVE_IS_WIRE_ORDER = ByteOrder.nativeOrder() == ORDER;

    private final Aeron aeron;
    private final AllReduceConfig config;
    private final Subscription subscription;
    private final int chunkFloats;      // values of a float32 chunk
    private final int chunkBf16;        // values of a bfloat16 chunk: twice as many in the same MTU
    private final IdleStrategy idle = new BackoffIdleStrategy(100, 10, 1_000, 200_000);
    private final BufferClaim claim = new BufferClaim();
    private final FrameHandler handler = new FrameHandler();

    private ExclusivePublication publication;
    private long generation = -1;
    private WireFormat wire = WireFormat.FP32; // the current generation's format for all but a buffer's float32 tail
    /** Set from another thread when the coordinator has moved on: operations of older generations end at once. */
    private volatile long abortBefore = -1;
    private int upstreamSession;
    private int rank;
    private int worldSize;
    private int prevRank;
    private int nextRank;

    // the operation in progress (data == null: none)
    private AtomicBuffer data;
    private long step = -1;
    private int rounds;
    private int[] segmentStart = new int[0];
    private int[] segmentSize = new int[0];
    private int[] segmentLow = new int[0];       // a segment's leading floats that travel in the generation's wire format
    private int[] segmentLowChunks = new int[0]; // chunks of those; the float32 chunks of the rest follow them
    private int lowChunkValues;                  // values per chunk in the generation's wire format
    private int[] roundBase = new int[0];   // index of a round's first chunk among all chunks received
    private long[] receivedChunks = new long[0]; // bit per (round, chunk) received in this operation
    private int[] queueRound = new int[0];
    private int[] queueChunk = new int[0];
    private int queueHead;
    private int queueTail;
    private int receivesExpected;
    private int received;
    private int sendsExpected;
    private int sent;
    private long lastReceiveNanos;
    private long lastSendNanos;
    private long droppedForeign;
    private long droppedStale;
    private long droppedMalformed;
    private long droppedWrongWire;
    private long wrongWireAtStart;
    private long windowSeen;          // largest free publication window seen in this generation
    private long directForwards;      // forwards written straight from the upstream's log into the claim
    private long queuedSends;         // sends copied from the buffer (own segment, forwards that found no space)
    private long idleCalls;
    private String corruption; // set by the frame handler when the upstream stream broke the protocol

    // the state transfer in progress (transferParts == null: none)
    private final StateHandler stateHandler = new StateHandler();
    private final Cursor sendCursor = new Cursor();
    private final Cursor receiveCursor = new Cursor();
    private AtomicBuffer[] transferParts;
    private int[] transferCounts;
    private boolean transferOverwrite;
    private int transferReceived;
    private int transferSent;

    public RingAllReduce(Aeron aeron, DataPlaneEndpoint self, AllReduceConfig config) {
        this.aeron = aeron;
        this.config = config;
        int payload = config.mtuBytes() - DataHeaderFlyweight.HEADER_LENGTH - HEADER_LENGTH;
        this.chunkFloats = payload / WireFormat.FP32.bytesPerValue();
        this.chunkBf16 = payload / WireFormat.BF16.bytesPerValue();
        this.subscription = aeron.addSubscription(self.channel(), self.streamId());
    }

    /** Frames dropped so far, for any reason: the sum of the three counters below. */
    public long droppedFrames() {
        return droppedForeign + droppedStale + droppedMalformed;
    }

    /** Fragments from a publication other than the current upstream's (another session). */
    public long droppedForeign() {
        return droppedForeign;
    }

    /** Frames of the upstream session for an earlier step of this generation. */
    public long droppedStale() {
        return droppedStale;
    }

    /**
     * Frames of the upstream session that are fragmented, shorter than a header, or whose sender, world
     * size, round, chunk, offset, count, length or wire format do not fit the current operation.
     */
    public long droppedMalformed() {
        return droppedMalformed;
    }

    /** Of {@link #droppedMalformed()}: frames in a wire format other than the one their chunk travels in. */
    public long droppedWrongWire() {
        return droppedWrongWire;
    }

    /**
     * Chunks sent straight from the upstream's frame (one pass: add or copy, into the buffer and the claim at
     * once) since this object was made. The rest of the sends ({@link #bufferedSends()}) copy from the buffer.
     */
    public long directForwards() {
        return directForwards;
    }

    /** Chunks sent from the buffer: a rank's own segment, and forwards that found the publication's window full. */
    public long bufferedSends() {
        return queuedSends;
    }

    /** How often an operation found nothing to do and called its idle strategy, since this object was made. */
    public long idleCalls() {
        return idleCalls;
    }

    /** The wire format of the current generation. */
    public WireFormat wire() {
        return wire;
    }

    /**
     * The Aeron session id of the publication that rank {@code senderRank} uses in {@code generation}.
     * Sender and receiver both derive it, so the receiver can pick its upstream's frames out of any
     * others on its channel. A fresh id per generation also keeps an old generation's leftovers apart.
     * It is not a secret: every datagram carries it.
     */
    static int sessionId(long generation, int senderRank) {
        long h = generation * 0x9E3779B97F4A7C15L + senderRank; // then murmur3's 64-bit finaliser
        h = (h ^ (h >>> 33)) * 0xFF51AFD7ED558CCDL;
        h = (h ^ (h >>> 33)) * 0xC4CEB9FE1A85EC53L;
        return (int) (h ^ (h >>> 33));
    }

    public long generation() {
        return generation;
    }

    /**
     * Ends any allreduce of a generation older than {@code newGeneration} (now, or when it starts) with a
     * {@link PeerFailureException}, instead of waiting for the peer timeout: the coordinator has already
     * replaced the generation, so its result could never be used. Safe to call from any thread.
     */
    public void abortBefore(long newGeneration) {
        if (newGeneration > abortBefore) abortBefore = newGeneration;
    }

    /** {@link #startGeneration(long, int, List, WireFormat)} in the config's wire format. */
    public void startGeneration(long generation, int rank, List<DataPlaneEndpoint> ring) {
        startGeneration(generation, rank, ring, config.wire());
    }

    /**
     * Enters a generation: this rank's position, the ring order (where every rank receives) and the wire
     * format, which every rank of the generation must use. Opens a new publication to the next rank, with
     * this generation's session id.
     */
    public void startGeneration(long generation, int rank, List<DataPlaneEndpoint> ring, WireFormat wire) {
        if (generation <= this.generation) {
            throw new IllegalArgumentException("generation " + generation + " is not newer than " + this.generation);
        }
        if (rank < 0 || rank >= ring.size()) throw new IllegalArgumentException("rank " + rank + " outside a ring of " + ring.size());
        this.generation = generation;
        this.wire = java.util.Objects.requireNonNull(wire, "wire");
        this.lowChunkValues = wire == WireFormat.BF16 ? chunkBf16 : chunkFloats;
        this.rank = rank;
        this.worldSize = ring.size();
        this.prevRank = (rank - 1 + worldSize) % worldSize;
        this.nextRank = (rank + 1) % worldSize;
        this.upstreamSession = sessionId(generation, prevRank);
        this.data = null;
        this.step = -1;
        if (publication != null) publication.close();
        publication = null;
        windowSeen = 0;
        if (worldSize > 1) {
            DataPlaneEndpoint next = ring.get(nextRank);
            ChannelUri uri = ChannelUri.parse(next.channel());
            uri.put(CommonContext.MTU_LENGTH_PARAM_NAME, Integer.toString(config.mtuBytes()));
            uri.put(CommonContext.TERM_LENGTH_PARAM_NAME, Integer.toString(config.termLength()));
            uri.put(CommonContext.SESSION_ID_PARAM_NAME, Integer.toString(sessionId(generation, rank)));
            publication = aeron.addExclusivePublication(uri.toString(), next.streamId());
        }
        int capacity = Math.max(1, worldSize);
        if (segmentStart.length < capacity) {
            segmentStart = new int[capacity];
            segmentSize = new int[capacity];
            segmentLow = new int[capacity];
            segmentLowChunks = new int[capacity];
        }
        if (roundBase.length < 2 * capacity) roundBase = new int[2 * capacity];
    }

    /** {@link #allreduce(AtomicBuffer, int, int, long)} with every float in the generation's wire format. */
    public void allreduce(AtomicBuffer buffer, int floatCount, long step) throws PeerFailureException {
        allreduce(buffer, floatCount, 0, step);
    }

    /**
     * Replaces the first {@code floatCount} floats of {@code buffer} with their sum over all ranks.
     * Every rank must call this with the same {@code step}, count and tail.
     *
     * @param float32Tail how many of the last floats travel as float32 whatever the generation's wire format
     *                    (sums that must stay exact, such as counts); 0 for none
     * @throws PeerFailureException when a neighbour stays silent longer than the peer timeout, or
     *                              ({@link CorruptStreamException}) when the upstream stream repeated a
     *                              chunk; either way the buffer holds partial sums and the step must be redone
     */
    public void allreduce(AtomicBuffer buffer, int floatCount, int float32Tail, long step) throws PeerFailureException {
        if (generation < 0) throw new IllegalStateException("startGeneration must come before allreduce");
        if ((long) floatCount * Float.BYTES > buffer.capacity()) {
            throw new IllegalArgumentException(floatCount + " floats do not fit a buffer of " + buffer.capacity() + " bytes");
        }
        if (float32Tail < 0 || float32Tail > floatCount) {
            throw new IllegalArgumentException("float32Tail " + float32Tail + " outside [0, " + floatCount + "]");
        }
        if (step <= this.step) throw new IllegalArgumentException("step " + step + " is not after the previous step " + this.step);
        this.step = step;
        if (worldSize == 1 || floatCount == 0) return;
        begin(buffer, floatCount, wire == WireFormat.FP32 ? 0 : floatCount - float32Tail);
        try {
            run();
        } finally {
            data = null;
        }
    }

    /** @param lowEnd floats before this index travel in the generation's wire format, the rest as float32 */
    private void begin(AtomicBuffer buffer, int floatCount, int lowEnd) {
        data = buffer;
        rounds = 2 * (worldSize - 1);
        int base = floatCount / worldSize, extra = floatCount % worldSize, start = 0;
        for (int s = 0; s < worldSize; s++) {
            segmentStart[s] = start;
            segmentSize[s] = base + (s < extra ? 1 : 0);
            segmentLow[s] = Math.max(0, Math.min(segmentSize[s], lowEnd - start));
            segmentLowChunks[s] = (segmentLow[s] + lowChunkValues - 1) / lowChunkValues;
            start += segmentSize[s];
        }
        wrongWireAtStart = droppedWrongWire;
        sendsExpected = 0;
        receivesExpected = 0;
        for (int r = 0; r < rounds; r++) {
            sendsExpected += chunks(sendSegment(r));
            roundBase[r] = receivesExpected;
            receivesExpected += chunks(receiveSegment(r));
        }
        if (queueRound.length < sendsExpected) {
            queueRound = new int[sendsExpected];
            queueChunk = new int[sendsExpected];
        }
        int words = (receivesExpected + 63) >>> 6;
        if (receivedChunks.length < words) receivedChunks = new long[words];
        Arrays.fill(receivedChunks, 0, words, 0L);
        corruption = null;
        queueHead = queueTail = sent = received = 0;
        int own = sendSegment(0);
        for (int c = 0, n = chunks(own); c < n; c++) enqueue(0, c);
        lastReceiveNanos = lastSendNanos = System.nanoTime();
    }

    /**
     * The operation's loop: queued sends, then a poll. The handler forwards each received chunk straight from the
     * upstream's log into this rank's publication when it can claim the space ({@link FrameHandler#tryForward}),
     * which saves a pass over the buffer. Queued sends (this rank's own segment, and forwards that found no space)
     * take the publication's window only down to a reserve of half the window, kept for those direct forwards.
     * The queue still always drains: the next rank consumes every frame of this step (it never waits for
     * window space itself, see {@link FrameHandler#tryForward}), so the window comes back. Sending before polling
     * puts a rank's own chunks on the wire first, which the next rank waits for (polling first made 4 KiB
     * operations slower: docs/benchmarks.md).
     */
    private void run() throws PeerFailureException {
        long timeoutNanos = config.peerTimeout().toNanos();
        while (received < receivesExpected || sent < sendsExpected) {
            int work = 0;
            while (queueHead < queueTail && aboveReserve() && trySend(queueRound[queueHead], queueChunk[queueHead])) {
                queueHead++;
                sent++;
                work++;
                lastSendNanos = System.nanoTime();
            }
            int polled = received < receivesExpected ? subscription.controlledPoll(handler, FRAGMENT_LIMIT) : 0;
            if (corruption != null) {
                throw new CorruptStreamException(prevRank, corruption + " (generation " + generation + ", step " + step
                        + "): the stream from rank " + prevRank + " was injected into or is corrupt; the step must be redone");
            }
            work += polled;
            if (work > 0) {
                idle.reset();
                continue;
            }
            if (abortBefore > generation) {
                throw new PeerFailureException(PeerFailureException.NO_PEER, "generation " + generation
                        + " was replaced by generation " + abortBefore + " during step " + step);
            }
            long now = System.nanoTime();
            if (queueHead < queueTail && now - lastSendNanos > timeoutNanos) {
                throw new PeerFailureException(nextRank, "rank " + nextRank + " did not take allreduce frames for "
                        + config.peerTimeout().toMillis() + " ms (generation " + generation + ", step " + step + ")");
            }
            if (received < receivesExpected && now - lastReceiveNanos > timeoutNanos) {
                throw new PeerFailureException(prevRank, "no allreduce frames from rank " + prevRank + " for "
                        + config.peerTimeout().toMillis() + " ms (generation " + generation + ", step " + step + ", "
                        + received + "/" + receivesExpected + " chunks received)" + wrongWireHint() + crowdedStreamHint());
            }
            idleCalls++;
            idle.idle();
        }
    }

    /**
     * Whether the publication has at least half its window free. The window is learnt from the largest free
     * window seen in this generation (term/2 over IPC, the receiver's window over UDP), so the reserve never exceeds
     * what the publication offers once the next rank has consumed its frames (Aeron then raises the limit to within
     * an eighth (IPC) or a quarter (UDP) of the full window).
     */
    private boolean aboveReserve() {
        long free = publication.availableWindow();
        if (free > windowSeen) windowSeen = free;
        return free >= windowSeen >> 1;
    }

    /**
     * On a stall, whether more than this subscription reads the upstream's stream in this host's media driver. Aeron
     * lets an image advance only as far as its slowest subscription, so one that nobody polls (left behind by a
     * process or node that never closed its Aeron client) stops the stream after the first receiver window: it looks
     * exactly like a silent peer. Reads the driver's counters; only called when an operation is already failing.
     */
    private String crowdedStreamHint() {
        int[] readers = {0};
        int stream = subscription.streamId();
        aeron.countersReader().forEach((counterId, typeId, key, label) -> {
            if (typeId == AeronCounters.DRIVER_SUBSCRIBER_POSITION_TYPE_ID
                    && key.getInt(StreamCounter.SESSION_ID_OFFSET) == upstreamSession
                    && key.getInt(StreamCounter.STREAM_ID_OFFSET) == stream) {
                readers[0]++;
            }
        });
        return readers[0] <= 1 ? "" : "; " + readers[0] + " subscriptions in this host's media driver read that stream, which "
                + "advances only as fast as the slowest: one that is not polled (an Aeron client some process or node did not "
                + "close) holds it back";
    }

    private String wrongWireHint() {
        long wrong = droppedWrongWire - wrongWireAtStart;
        return wrong == 0 ? "" : "; " + wrong + " frames from it were in another wire format than this rank's "
                + wire.configName() + ": every rank of a ring must use the same format (distributed_training.allreduce_wire)";
    }

    /**
     * State transfer: copies {@code parts} (the first {@code floatCounts[p]} floats of each) from rank
     * {@code donor} to every other rank of this generation. The chunks pass along the ring in order,
     * donor → donor+1 → ... → donor-1, each rank forwarding a chunk as soon as it has it, with the
     * allreduce's frame header ({@link AllReduceFrame#STATE_TRANSFER_STEP}, {@link AllReduceFrame#STATE_TRANSFER_ROUND})
     * and the same checks: only the upstream's session, this generation, the expected sender, world size,
     * chunk index, offset and length; a chunk repeated aborts with {@link CorruptStreamException}.
     * Every rank of the generation must call this, with the same geometry, before its first allreduce.
     *
     * @param overwrite     false on a rank that already holds the donor's state: it forwards its own
     *                      copy and leaves its buffers alone, so a failed transfer cannot spoil it
     * @param idleTimeout   a neighbour that neither sends nor takes a chunk for this long ends the
     *                      transfer with {@link PeerFailureException} (a joiner may still be opening its
     *                      training session when the donor starts, so this is longer than the peer timeout)
     * @return the bytes this rank received (or, on the donor, sent)
     */
    public long transferState(AtomicBuffer[] parts, int[] floatCounts, int donor, boolean overwrite,
                              java.time.Duration idleTimeout) throws PeerFailureException {
        if (generation < 0) throw new IllegalStateException("startGeneration must come before transferState");
        if (step != -1) throw new IllegalStateException("the state transfer must come before the generation's first allreduce");
        if (donor < 0 || donor >= worldSize) throw new IllegalArgumentException("donor rank " + donor + " outside a ring of " + worldSize);
        if (parts.length != floatCounts.length) throw new IllegalArgumentException(parts.length + " parts but " + floatCounts.length + " counts");
        long bytes = 0;
        int chunkTotal = 0;
        for (int p = 0; p < parts.length; p++) {
            if (floatCounts[p] < 0 || (long) floatCounts[p] * Float.BYTES > parts[p].capacity()) {
                throw new IllegalArgumentException("part " + p + ": " + floatCounts[p] + " floats do not fit " + parts[p].capacity() + " bytes");
            }
            bytes += (long) floatCounts[p] * Float.BYTES;
            chunkTotal += (floatCounts[p] + chunkFloats - 1) / chunkFloats;
        }
        if (worldSize == 1) return 0;
        boolean receives = rank != donor, sends = nextRank != donor;
        transferParts = parts;
        transferCounts = floatCounts;
        transferOverwrite = overwrite;
        transferReceived = transferSent = 0;
        sendCursor.reset();
        receiveCursor.reset();
        corruption = null;
        long timeoutNanos = idleTimeout.toNanos();
        lastReceiveNanos = lastSendNanos = System.nanoTime();
        try {
            while ((receives && transferReceived < chunkTotal) || (sends && transferSent < chunkTotal)) {
                int work = 0;
                int available = receives ? transferReceived : chunkTotal;
                while (sends && transferSent < available && trySendState()) {
                    transferSent++;
                    work++;
                    lastSendNanos = System.nanoTime();
                }
                if (receives && transferReceived < chunkTotal) work += subscription.controlledPoll(stateHandler, FRAGMENT_LIMIT);
                if (corruption != null) {
                    throw new CorruptStreamException(prevRank, corruption + " (generation " + generation
                            + ", state transfer): the stream from rank " + prevRank + " was injected into or is corrupt");
                }
                if (work > 0) {
                    idle.reset();
                    continue;
                }
                if (abortBefore > generation) {
                    throw new PeerFailureException(PeerFailureException.NO_PEER, "generation " + generation
                            + " was replaced by generation " + abortBefore + " during the state transfer");
                }
                long now = System.nanoTime();
                if (sends && transferSent < (receives ? transferReceived : chunkTotal) && now - lastSendNanos > timeoutNanos) {
                    throw new PeerFailureException(nextRank, "rank " + nextRank + " did not take state-transfer frames for "
                            + idleTimeout.toMillis() + " ms (generation " + generation + ", " + transferSent + "/" + chunkTotal + " chunks sent)");
                }
                if (receives && transferReceived < chunkTotal && now - lastReceiveNanos > timeoutNanos) {
                    throw new PeerFailureException(prevRank, "no state-transfer frames from rank " + prevRank + " for "
                            + idleTimeout.toMillis() + " ms (generation " + generation + ", " + transferReceived + "/" + chunkTotal
                            + " chunks received)" + crowdedStreamHint());
                }
                idle.idle();
            }
        } finally {
            transferParts = null;
            transferCounts = null;
        }
        return bytes;
    }

    private boolean trySendState() {
        int count = sendCursor.count();
        long result = publication.tryClaim(length(count, WireFormat.FP32), claim);
        if (result > 0) {
            MutableDirectBuffer b = claim.buffer();
            int at = claim.offset();
            writeHeader(b, at, generation, STATE_TRANSFER_STEP, STATE_TRANSFER_ROUND, rank, transferSent, sendCursor.first,
                    count, worldSize, WireFormat.FP32); // state travels exactly, whatever the gradients' wire
            b.putBytes(at + HEADER_LENGTH, transferParts[sendCursor.part], sendCursor.first * Float.BYTES, count * Float.BYTES);
            claim.commit();
            sendCursor.advance();
            return true;
        }
        if (result == Publication.CLOSED || result == Publication.MAX_POSITION_EXCEEDED) {
            throw new IllegalStateException("state-transfer publication to rank " + nextRank + " is unusable (" + result + ")");
        }
        return false;
    }

    /** Position of the next chunk of a state transfer, in order over all parts. */
    private final class Cursor {
        int part;
        int first;

        void reset() {
            part = 0;
            first = 0;
            skipEmpty();
        }

        int count() {
            return Math.min(chunkFloats, transferCounts[part] - first);
        }

        void advance() {
            first += count();
            skipEmpty();
        }

        private void skipEmpty() {
            while (part < transferCounts.length && first >= transferCounts[part]) {
                part++;
                first = 0;
            }
        }
    }

    private final class StateHandler implements ControlledFragmentHandler {
        @Override
        public Action onFragment(DirectBuffer buffer, int offset, int length, Header header) {
            boolean upstream = header.sessionId() == upstreamSession;
            if ((header.flags() & FrameDescriptor.UNFRAGMENTED) != FrameDescriptor.UNFRAGMENTED || length < HEADER_LENGTH) {
                return upstream ? handler.malformed("fragmented or short frame") : handler.foreign();
            }
            long g = AllReduceFrame.generation(buffer, offset);
            if (!upstream) {
                if (g > generation && header.sessionId() == sessionId(g, sender(buffer, offset))) return Action.ABORT;
                return handler.foreign();
            }
            if (g != generation) return handler.malformed("frame of another generation in this generation's session");
            if (step(buffer, offset) != STATE_TRANSFER_STEP) return Action.ABORT; // a training step's: not for this operation
            if (sender(buffer, offset) != prevRank || worldSize(buffer, offset) != worldSize
                    || round(buffer, offset) != STATE_TRANSFER_ROUND || wireFormat(buffer, offset) != WireFormat.FP32.code()) {
                return handler.malformed("state-transfer frame from an unexpected sender or ring");
            }
            int chunk = chunk(buffer, offset);
            if (chunk >= 0 && chunk < transferReceived) {
                corruption = "state-transfer chunk " + chunk + " arrived twice";
                return Action.BREAK;
            }
            int count = count(buffer, offset);
            if (chunk != transferReceived || receiveCursor.part >= transferCounts.length
                    || floatOffset(buffer, offset) != receiveCursor.first || count != receiveCursor.count()
                    || length != length(count, WireFormat.FP32)) {
                return handler.malformed("state-transfer frame that does not fit the state's geometry");
            }
            if (transferOverwrite) {
                transferParts[receiveCursor.part].putBytes(receiveCursor.first * Float.BYTES, buffer, offset + HEADER_LENGTH,
                        count * Float.BYTES);
            }
            receiveCursor.advance();
            transferReceived++;
            lastReceiveNanos = System.nanoTime();
            return Action.CONTINUE;
        }
    }

    private boolean trySend(int round, int chunk) {
        int segment = sendSegment(round);
        int first = chunkFirst(segment, chunk);
        int count = chunkCount(segment, chunk, first);
        WireFormat format = chunkWire(segment, chunk);
        long result = publication.tryClaim(length(count, format), claim);
        if (result > 0) {
            MutableDirectBuffer b = claim.buffer();
            int at = claim.offset();
            writeHeader(b, at, generation, step, round, rank, chunk, first, count, worldSize, format);
            if (format == WireFormat.FP32) {
                b.putBytes(at + HEADER_LENGTH, data, first * Float.BYTES, count * Float.BYTES);
            } else {
                // from the first all-gather round on, the values sent are bfloat16s already (the owner rounded them)
                encodeBf16(b, at + HEADER_LENGTH, first * Float.BYTES, count, round >= worldSize - 1);
            }
            claim.commit();
            queuedSends++;
            return true;
        }
        if (result == Publication.CLOSED || result == Publication.MAX_POSITION_EXCEEDED) {
            throw new IllegalStateException("allreduce publication to rank " + nextRank + " is unusable (" + result + ")");
        }
        return false; // back pressure, not connected yet, or admin action: try again
    }

    /** Segment sent in round r: own segment first, then whatever was completed in the round before. */
    private int sendSegment(int round) {
        int r = round < worldSize - 1 ? rank - round : rank + 1 - (round - (worldSize - 1));
        return Math.floorMod(r, worldSize);
    }

    private int receiveSegment(int round) {
        int r = round < worldSize - 1 ? rank - round - 1 : rank - (round - (worldSize - 1));
        return Math.floorMod(r, worldSize);
    }

    private int chunks(int segment) {
        return segmentLowChunks[segment] + (segmentSize[segment] - segmentLow[segment] + chunkFloats - 1) / chunkFloats;
    }

    /** Index of a chunk's first float in the buffer: the wire-format chunks of a segment, then its float32 ones. */
    private int chunkFirst(int segment, int chunk) {
        int low = segmentLowChunks[segment];
        return chunk < low ? segmentStart[segment] + chunk * lowChunkValues
                : segmentStart[segment] + segmentLow[segment] + (chunk - low) * chunkFloats;
    }

    private int chunkCount(int segment, int chunk, int first) {
        return chunk < segmentLowChunks[segment]
                ? Math.min(lowChunkValues, segmentStart[segment] + segmentLow[segment] - first)
                : Math.min(chunkFloats, segmentStart[segment] + segmentSize[segment] - first);
    }

    private WireFormat chunkWire(int segment, int chunk) {
        return chunk < segmentLowChunks[segment] ? wire : WireFormat.FP32;
    }

    /**
     * frame[at..] = bfloat16 of data[from..], {@code count} values, rounded to nearest even. Raw memory on a
     * little-endian host, as in {@link FrameHandler#add}; the claim and the geometry bound both ends.
     *
     * @param exact the values are bfloat16s already (low 16 bits zero): their upper halves are sent as they are,
     *              which is what rounding would give, at about twice the speed (measured in docs/benchmarks.md)
     */
    private void encodeBf16(MutableDirectBuffer frame, int at, int from, int count, boolean exact) {
        if (NATIVE_IS_WIRE_ORDER) {
            Object dataBase = data.byteArray(), frameBase = frame.byteArray();
            long d = data.addressOffset() + from, f = frame.addressOffset() + at;
            if (exact) {
                for (int i = 0; i < count; i++) {
                    UnsafeApi.putShort(frameBase, f + 2L * i, (short) (UnsafeApi.getInt(dataBase, d + 4L * i) >>> 16));
                }
                return;
            }
            for (int i = 0; i < count; i++) {
                UnsafeApi.putShort(frameBase, f + 2L * i, BFloat16.fromFloatBits(UnsafeApi.getInt(dataBase, d + 4L * i)));
            }
        } else {
            for (int i = 0; i < count; i++) {
                frame.putShort(at + 2 * i, BFloat16.fromFloatBits(data.getInt(from + 4 * i)), ORDER);
            }
        }
    }

    private void enqueue(int round, int chunk) {
        queueRound[queueTail] = round;
        queueChunk[queueTail] = chunk;
        queueTail++;
    }

    private final class FrameHandler implements ControlledFragmentHandler {
        @Override
        public Action onFragment(DirectBuffer buffer, int offset, int length, Header header) {
            boolean upstream = header.sessionId() == upstreamSession;
            // a genuine frame always fits one MTU: a fragment of a larger message is never one
            if ((header.flags() & FrameDescriptor.UNFRAGMENTED) != FrameDescriptor.UNFRAGMENTED || length < HEADER_LENGTH) {
                return upstream ? malformed("fragmented or short frame") : foreign();
            }
            long g = AllReduceFrame.generation(buffer, offset);
            if (!upstream) {
                // the next generation's upstream may already be sending: its frames wait in their own image
                if (g > generation && header.sessionId() == sessionId(g, sender(buffer, offset))) return Action.ABORT;
                return foreign();
            }
            long s = step(buffer, offset);
            if (g != generation) return malformed("frame of another generation in this generation's session");
            if (s < step) {
                droppedStale++;
                return Action.CONTINUE;
            }
            if (s > step) return Action.ABORT; // belongs to a later operation: leave it
            int round = round(buffer, offset), chunk = chunk(buffer, offset), count = count(buffer, offset);
            if (sender(buffer, offset) != prevRank || worldSize(buffer, offset) != worldSize || round < 0 || round >= rounds) {
                return malformed("frame from an unexpected sender or ring");
            }
            int code = wireFormat(buffer, offset);
            if (code != wire.code() && code != WireFormat.FP32.code()) return wrongWire();
            int segment = receiveSegment(round);
            if (chunk < 0 || chunk >= chunks(segment)) return malformed("frame of a chunk the buffer does not have");
            WireFormat format = chunkWire(segment, chunk);
            if (code != format.code()) return wrongWire();
            int first = chunkFirst(segment, chunk);
            if (floatOffset(buffer, offset) != first || count != chunkCount(segment, chunk, first) || length != length(count, format)) {
                return malformed("frame that does not fit the buffer geometry");
            }
            int index = roundBase[round] + chunk;
            long bit = 1L << index;
            if ((receivedChunks[index >>> 6] & bit) != 0) {
                corruption = "chunk " + chunk + " of round " + round + " arrived twice";
                return Action.BREAK;
            }
            receivedChunks[index >>> 6] |= bit;
            int src = offset + HEADER_LENGTH;
            if (format == WireFormat.FP32 && round + 1 < rounds && chunks(segment) > DIRECT_FORWARD_MIN_CHUNKS
                    && tryForward(buffer, src, round, chunk, first, count)) {
                received++;
                sent++;
                directForwards++;
                lastReceiveNanos = lastSendNanos = System.nanoTime();
                return Action.CONTINUE;
            }
            if (format == WireFormat.FP32) {
                if (round < worldSize - 1) add(buffer, src, first * Float.BYTES, count);
                else data.putBytes(first * Float.BYTES, buffer, src, count * Float.BYTES);
            } else {
                // the last reduce-scatter round completes this segment here: its owner keeps the bfloat16 value it sends
                if (round < worldSize - 1) addBf16(buffer, src, first * Float.BYTES, count, round == worldSize - 2);
                else widenBf16(buffer, src, first * Float.BYTES, count);
            }
            received++;
            lastReceiveNanos = System.nanoTime();
            if (round + 1 < rounds) enqueue(round + 1, chunk);
            return Action.CONTINUE;
        }

        /**
         * Sends chunk {@code chunk} of round {@code round + 1} (the segment just received) at once, from the received
         * float32 frame, if the publication has room. In a reduce-scatter round before the last, the claim gets
         * data + frame and the buffer is left alone (it gets the segment's total in the all-gather); in the last, the
         * sum goes to the buffer and is copied to the claim while it is cache-hot; in an all-gather round the frame
         * is copied to the buffer and to the claim. The buffered path instead updates the buffer and copies the chunk
         * out when its queued send comes, by then from memory. Bounds as for {@link #add}.
         *
         * @return false when the claim failed (back pressure): the caller then takes the buffered path and queues the send
         */
        private boolean tryForward(DirectBuffer frame, int src, int round, int chunk, int first, int count) {
            int bytes = count * Float.BYTES;
            if (!NATIVE_IS_WIRE_ORDER || publication.tryClaim(HEADER_LENGTH + bytes, claim) <= 0) return false;
            MutableDirectBuffer out = claim.buffer();
            int at = claim.offset();
            writeHeader(out, at, generation, step, round + 1, rank, chunk, first, count, worldSize, WireFormat.FP32);
            Object dataBase = data.byteArray(), frameBase = frame.byteArray(), outBase = out.byteArray();
            long d = data.addressOffset() + (long) first * Float.BYTES, f = frame.addressOffset() + src;
            long o = out.addressOffset() + at + HEADER_LENGTH;
            if (round < worldSize - 2) {
                // a partial sum that only passes through: this rank's buffer gets the segment's total in the all-gather
                for (int i = 0; i < count; i++) {
                    long k = (long) i * Float.BYTES;
                    UnsafeApi.putFloat(outBase, o + k, UnsafeApi.getFloat(dataBase, d + k) + UnsafeApi.getFloat(frameBase, f + k));
                }
            } else if (round == worldSize - 2) {
                // completes the segment: the buffer keeps the sum, and the claim copies it while it is still in L1
                // (measured no slower than one loop with two stores, which the JIT does not vectorise either)
                add(frame, src, first * Float.BYTES, count);
                UnsafeApi.copyMemory(dataBase, d, outBase, o, bytes);
            } else {
                UnsafeApi.copyMemory(frameBase, f, dataBase, d, bytes);
                UnsafeApi.copyMemory(frameBase, f, outBase, o, bytes);
            }
            claim.commit();
            return true;
        }

        /**
         * data[at..] += frame[src..], {@code count} floats. The bounds were checked above (the frame's length
         * and the geometry; the buffer's capacity in allreduce()), so on a little-endian host (the wire
         * order) the loop reads raw memory: without per-element bounds and byte-order checks the JIT
         * turns it into a memory-speed loop, about 4x the checked accessors.
         */
        private void add(DirectBuffer frame, int src, int at, int count) {
            if (NATIVE_IS_WIRE_ORDER) {
                Object dataBase = data.byteArray(), frameBase = frame.byteArray();
                long d = data.addressOffset() + at, f = frame.addressOffset() + src;
                for (int i = 0; i < count; i++) {
                    long o = (long) i * Float.BYTES;
                    UnsafeApi.putFloat(dataBase, d + o, UnsafeApi.getFloat(dataBase, d + o) + UnsafeApi.getFloat(frameBase, f + o));
                }
            } else {
                for (int i = 0; i < count; i++, at += Float.BYTES) {
                    data.putFloat(at, data.getFloat(at) + frame.getFloat(src + i * Float.BYTES, ORDER));
                }
            }
        }

        /**
         * data[at..] += widened frame[src..] in float32, {@code count} values; with {@code round} the sum is then
         * rounded to bfloat16 in place. Raw memory on a little-endian host, bounds checked as for {@link #add}.
         */
        private void addBf16(DirectBuffer frame, int src, int at, int count, boolean round) {
            if (NATIVE_IS_WIRE_ORDER) {
                Object dataBase = data.byteArray(), frameBase = frame.byteArray();
                long d = data.addressOffset() + at, f = frame.addressOffset() + src;
                if (round) {
                    for (int i = 0; i < count; i++) {
                        long o = 4L * i;
                        float sum = UnsafeApi.getFloat(dataBase, d + o) + BFloat16.toFloat(UnsafeApi.getShort(frameBase, f + 2L * i));
                        UnsafeApi.putInt(dataBase, d + o, BFloat16.toFloatBits(BFloat16.fromFloat(sum)));
                    }
                } else {
                    for (int i = 0; i < count; i++) {
                        long o = 4L * i;
                        UnsafeApi.putFloat(dataBase, d + o, UnsafeApi.getFloat(dataBase, d + o)
                                + BFloat16.toFloat(UnsafeApi.getShort(frameBase, f + 2L * i)));
                    }
                }
            } else {
                for (int i = 0; i < count; i++, at += Float.BYTES) {
                    float sum = data.getFloat(at) + BFloat16.toFloat(frame.getShort(src + 2 * i, ORDER));
                    data.putFloat(at, round ? BFloat16.round(sum) : sum);
                }
            }
        }

        /** data[at..] = widened frame[src..], {@code count} values (exact). */
        private void widenBf16(DirectBuffer frame, int src, int at, int count) {
            if (NATIVE_IS_WIRE_ORDER) {
                Object dataBase = data.byteArray(), frameBase = frame.byteArray();
                long d = data.addressOffset() + at, f = frame.addressOffset() + src;
                for (int i = 0; i < count; i++) {
                    UnsafeApi.putInt(dataBase, d + 4L * i, BFloat16.toFloatBits(UnsafeApi.getShort(frameBase, f + 2L * i)));
                }
            } else {
                for (int i = 0; i < count; i++, at += Float.BYTES) {
                    data.putInt(at, BFloat16.toFloatBits(frame.getShort(src + 2 * i, ORDER)));
                }
            }
        }

        private Action wrongWire() {
            droppedWrongWire++;
            return malformed("frame in another wire format than its chunk's");
        }

        private Action foreign() {
            droppedForeign++;
            return Action.CONTINUE;
        }

        private Action malformed(String why) {
            droppedMalformed++;
            if (LOG.isDebugEnabled()) LOG.debug("dropped {} (generation {}, step {})", why, generation, step);
            return Action.CONTINUE;
        }
    }

    @Override
    public void close() {
        if (publication != null) publication.close();
        publication = null;
        if (!subscription.isClosed()) subscription.close();
    }
}
