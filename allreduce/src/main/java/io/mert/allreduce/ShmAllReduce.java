package io.mert.allreduce;

import org.agrona.IoUtil;
import org.agrona.UnsafeApi;
import org.agrona.concurrent.AtomicBuffer;
import org.agrona.concurrent.BackoffIdleStrategy;
import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.regex.Pattern;

/**
 * In-place sum of a flat float32 buffer across ranks <b>on one host</b>, reading each other's buffers directly in
 * shared memory: the same contract as {@link RingAllReduce} (generations, strictly increasing steps,
 * {@link PeerFailureException} naming a silent peer within the timeout, {@link #abortBefore}, zero allocation in
 * the steady state), without Aeron's log buffers and media driver in the way.
 *
 * <p>Every rank maps a file {@code <directory>/mert-allreduce-<session>-g<generation>-r<rank>.shm}: a header of
 * progress counters and a data area of {@code capacityFloats} floats. {@link #buffer()} is that data area: a caller
 * that writes its values there saves a copy in and a copy out ({@link #allreduce} also takes any other buffer, and
 * then copies). An operation cuts the buffer into one segment per rank and each segment into chunks:
 * <ol>
 *   <li>each rank announces that its input is in its area (READY);</li>
 *   <li>reduce-scatter: rank {@code r} sums segment {@code r} chunk by chunk, reading every rank's area, in rank order
 *       {@code ((x0 + x1) + x2) + ...}, into its own area, and publishes each finished chunk (REDUCED);</li>
 *   <li>all-gather: every rank copies the other segments' chunks from their owners' areas as they are published
 *       (this overwrites its own input of those chunks, which the owner read before publishing), between its own chunks
 *       and then until it has them all;</li>
 *   <li>a barrier (DONE): nobody returns, and so nobody's caller overwrites its area, while a peer may still read it.</li>
 * </ol>
 * Only the owner of a segment computes its sum and everybody copies it, so all ranks end with the same bits.
 * Counters are written with release stores after the data and read with acquire loads before it; they hold the
 * operation's index in the generation (shifted left by 32, plus a chunk count), so a counter of an earlier operation
 * never passes for the current one, and the file's name and header pin the session and generation.
 *
 * <p>{@link #allreduceShared} is the same sum with one shared result instead of one per rank: rank {@code r} writes
 * the sum of segment {@code r} into a result area that follows rank 0's data area, and every rank reads the whole
 * result there, in place, until its next operation. There is no all-gather: per rank the operation reads its share
 * of every input and writes its share of the result ({@code (n + 1) S / n} bytes of {@code S}), against
 * {@code (3n - 1) S / n} when every rank holds its own copy. It suits callers that only read the sum (an optimizer
 * that applies the unscale and clip factors as it reads the gradients).
 *
 * <p>Liveness: a rank inside an operation bumps a heartbeat counter while it works or waits. A waiting rank that
 * sees neither a peer's heartbeat nor its counters move for the peer timeout ends the operation with a
 * {@link PeerFailureException} naming that peer, and marks in its header that it gave up, naming the same peer, so
 * the other waiting ranks end at once instead of timing out on it. A generation in which an operation failed is
 * finished: the next operation must come in a new generation ({@link #startGeneration}), which maps new files.
 *
 * <p>Files: created under a temporary name and renamed into place once the header is complete, so a peer never maps
 * a half-written one; a file left by a dead process (its owner's pid no longer runs, or now belongs to a process that
 * started at another time: pids are reused) is ignored by peers and
 * replaced by its rank. A rank deletes its file when it enters the next generation and on {@link #close()}, and
 * entering a generation also deletes the session's files of earlier generations whose owners are dead (a killed
 * rank leaves its file). The session id keeps independent jobs apart: give every job its own.
 *
 * <p>Float32 only: the bfloat16 wire of {@link RingAllReduce} halves the bytes a network carries, and here no bytes
 * travel; the peers' float32 values are read where they lie.
 *
 * <p>Not thread-safe: one operation at a time, from one thread.
 */
public final class ShmAllReduce implements AutoCloseable {

    static final long MAGIC = 0x4d45525453484d31L; // "MERTSHM1"
    /**
     * Whether sums use the Vector API ({@link VectorChunkSum}): when the JVM runs with {@code --add-modules
     * jdk.incubator.vector} (the {@code mert} launcher and the benchmark's rank processes do), unless
     * {@code -Dmert.allreduce.vector=false}. Otherwise a scalar loop, with the same bits and about half the speed.
     */
    public static final boolean VECTOR_SUM = !"false".equals(System.getProperty("mert.allreduce.vector"))
            && ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
    private static final Pattern SESSION = Pattern.compile("[A-Za-z0-9_.-]{1,64}");
    private static final int LINE = 128; // a counter per 128 bytes: no false sharing, also with adjacent-line prefetch
    // line 0, written once before the file is renamed into place
    private static final int MAGIC_AT = 0;
    private static final int RANK_AT = 8;
    private static final int WORLD_AT = 12;
    private static final int GENERATION_AT = 16;
    private static final int CAPACITY_AT = 24;
    private static final int PID_AT = 32;
    private static final int STARTED_AT = 40;           // the owner's start, epoch ms (0: unknown): a reused pid is not it
    // one line each, written by the owner only
    private static final int READY_AT = LINE;          // op+1 once the input of op is in the area; its step at +8, count at +16, kind at +20
    private static final int REDUCED_AT = 2 * LINE;    // (op+1) << 32 | chunks of the own segment summed
    private static final int DONE_AT = 3 * LINE;       // op+1 once this rank has read everything it needs of op
    private static final int HEARTBEAT_AT = 4 * LINE;
    private static final int ABORT_AT = 5 * LINE;      // op+1 of an operation this rank gave up; the peer it named at +8
    static final int HEADER_BYTES = 4096;              // the data area starts page-aligned

    private static final int WAITED_INPUT = 0, WAITED_CHUNK = 1, WAITED_DONE = 2; // what a wait was for, in messages
    private static final int IN_PLACE = 0, SHARED = 1; // an operation's kind: a result in every rank's area, or one in rank 0's file

    private final ShmAllReduceConfig config;
    private final String session;
    private final int capacityFloats;
    private final int chunkFloats;
    private final long pid = ProcessIdentity.PID;
    private final IdleStrategy idle = new BackoffIdleStrategy(50, 10, 1_000, 100_000);
    private final UnsafeBuffer scratch; // sums of more than four ranks are built here, then copied out

    private long generation = -1;
    private int rank;
    private int worldSize;
    private volatile long abortBefore = -1;
    private Path ownFile;
    private MappedByteBuffer ownMap;
    private UnsafeBuffer data;
    private final UnsafeBuffer sharedResult = new UnsafeBuffer(0, 0); // rewrapped per shared operation: no allocation
    private long resultArea;                 // address of the shared result area (in rank 0's file), once mapped
    private int resultAt;                    // its byte offset in rank 0's file
    private ByteBuffer[] maps = new ByteBuffer[0]; // each rank's file in native byte order, for the vectorised sum
    private long ownHeader;
    private MappedByteBuffer[] peerMaps = new MappedByteBuffer[0];
    private long[] header = new long[0];     // address of each rank's header (this rank's too)
    private long[] area = new long[0];       // address of each rank's data area
    private long[] peerCapacity = new long[0]; // floats each rank's area holds
    private boolean peersMapped;
    private String failed;                   // why this generation can no longer be used; null while it can
    private long op;                         // operations of this generation started so far
    private long step = -1;
    private long beats;

    // the operation in progress
    private int[] segmentStart = new int[0];
    private int[] segmentSize = new int[0];
    private int[] gathered = new int[0];     // chunks of each segment already copied here
    private long[] seenBeat = new long[0];
    private long[] seenProgress = new long[0];
    private long[] lastSign = new long[0];   // nanoTime of each peer's last sign of life
    private long idleCalls;

    /**
     * @param session        names this job's files; every rank of a job passes the same, other jobs on the host another
     *                       (letters, digits, {@code . _ -}, at most 64)
     * @param capacityFloats the largest buffer an operation takes; every rank must pass at least the largest count
     *                       it will reduce
     */
    public ShmAllReduce(String session, int capacityFloats, ShmAllReduceConfig config) {
        if (!SESSION.matcher(session).matches()) {
            throw new IllegalArgumentException("session id must be 1-64 of [A-Za-z0-9_.-], got '" + session + "'");
        }
        if (capacityFloats < 0 || (long) capacityFloats * Float.BYTES > Integer.MAX_VALUE - HEADER_BYTES) {
            throw new IllegalArgumentException("capacityFloats must be in [0, " + (Integer.MAX_VALUE - HEADER_BYTES) / Float.BYTES
                    + "], got " + capacityFloats);
        }
        if (!Files.isDirectory(config.directory())) {
            throw new IllegalArgumentException("shared-memory directory " + config.directory() + " does not exist");
        }
        this.config = config;
        this.session = session;
        this.capacityFloats = capacityFloats;
        this.chunkFloats = config.chunkBytes() / Float.BYTES;
        this.scratch = new UnsafeBuffer(ByteBuffer.allocateDirect(config.chunkBytes()).order(ByteOrder.nativeOrder()));
    }

    /**
     * Rank 0's file also holds the shared result area after its data area ({@link #allreduceShared}); tmpfs gives it
     * pages only when an operation writes there.
     */
    private static long fileLength(int rank, long capacityFloats) {
        return HEADER_BYTES + (rank == 0 ? 2 : 1) * capacityFloats * Float.BYTES;
    }

    /** The file of {@code rank} in {@code generation} of {@code session}. */
    static Path file(Path directory, String session, long generation, int rank) {
        return directory.resolve("mert-allreduce-" + session + "-g" + generation + "-r" + rank + ".shm");
    }

    public long generation() {
        return generation;
    }

    /** How often an operation found nothing to do and called its idle strategy, since this object was made. */
    public long idleCalls() {
        return idleCalls;
    }

    /** The largest count an operation takes. */
    public int capacityFloats() {
        return capacityFloats;
    }

    /**
     * This rank's data area for the current generation ({@code capacityFloats} floats, native order). Values written
     * here and reduced with {@code allreduce(buffer(), ...)} are summed without a copy in or out. Valid until the
     * next {@link #startGeneration} or {@link #close()}.
     */
    public AtomicBuffer buffer() {
        if (data == null) throw new IllegalStateException("startGeneration must come before buffer()");
        return data;
    }

    /** As {@link RingAllReduce#abortBefore}: ends operations of older generations at once. Safe from any thread. */
    public void abortBefore(long newGeneration) {
        if (newGeneration > abortBefore) abortBefore = newGeneration;
    }

    /**
     * Enters a generation: this rank's position among {@code worldSize} ranks on this host. Deletes this rank's file
     * of the previous generation and maps a new one; the peers' files are mapped by the first operation.
     */
    public void startGeneration(long generation, int rank, int worldSize) {
        if (generation <= this.generation) {
            throw new IllegalArgumentException("generation " + generation + " is not newer than " + this.generation);
        }
        if (worldSize < 1 || rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException("rank " + rank + " outside a world of " + worldSize);
        }
        release();
        this.generation = generation;
        this.rank = rank;
        this.worldSize = worldSize;
        this.op = 0;
        this.step = -1;
        this.failed = null;
        this.peersMapped = false;
        if (header.length < worldSize) {
            header = new long[worldSize];
            area = new long[worldSize];
            peerMaps = new MappedByteBuffer[worldSize];
            maps = new ByteBuffer[worldSize];
            peerCapacity = new long[worldSize];
            segmentStart = new int[worldSize];
            segmentSize = new int[worldSize];
            gathered = new int[worldSize];
            seenBeat = new long[worldSize];
            seenProgress = new long[worldSize];
            lastSign = new long[worldSize];
        }
        createOwnFile();
        deleteFilesOfDeadRanks();
    }

    /**
     * Deletes this session's files of earlier generations whose owners no longer run: a rank that was killed never
     * deletes its own, and each holds a whole buffer of shared memory. A peer that still maps one keeps its mapping.
     */
    private void deleteFilesOfDeadRanks() {
        String prefix = "mert-allreduce-" + session + "-g";
        try (java.util.stream.Stream<Path> files = Files.list(config.directory())) {
            for (Path f : (Iterable<Path>) files::iterator) {
                String name = f.getFileName().toString();
                if (!name.startsWith(prefix) || !name.endsWith(".shm")) continue;
                int r = name.lastIndexOf("-r");
                long g;
                try {
                    g = Long.parseLong(name.substring(prefix.length(), r));
                } catch (RuntimeException e) {
                    continue; // not one of ours
                }
                if (g < generation && !ownerRuns(f)) Files.deleteIfExists(f);
            }
        } catch (IOException e) {
            // a sweep that fails leaves files behind, nothing worse
        }
    }

    private static boolean ownerRuns(Path f) throws IOException {
        ByteBuffer head = ByteBuffer.allocate(STARTED_AT + 8).order(ByteOrder.nativeOrder());
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(f)) {
            while (head.hasRemaining() && ch.read(head) >= 0) {
                // read the identity line
            }
        }
        if (head.hasRemaining() || head.getLong(MAGIC_AT) != MAGIC) return true; // not (yet) a complete file: leave it
        return ProcessIdentity.running(head.getLong(PID_AT), head.getLong(STARTED_AT));
    }

    private void createOwnFile() {
        Path target = file(config.directory(), session, generation, rank);
        Path temp = target.resolveSibling(target.getFileName() + ".tmp-" + pid);
        long length = fileLength(rank, capacityFloats);
        try {
            Files.deleteIfExists(temp);
            MappedByteBuffer map = IoUtil.mapNewFile(temp.toFile(), length, false); // tmpfs pages start zeroed
            // gradients say much about the training data: only this user's processes (the other ranks) may map them
            try {
                Files.setPosixFilePermissions(temp, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
            } catch (UnsupportedOperationException notPosix) {
                // the directory's file system has no POSIX permissions: left as created
            }
            long h = new UnsafeBuffer(map).addressOffset();
            UnsafeApi.putInt(h + RANK_AT, rank);
            UnsafeApi.putInt(h + WORLD_AT, worldSize);
            UnsafeApi.putLong(h + GENERATION_AT, generation);
            UnsafeApi.putLong(h + CAPACITY_AT, capacityFloats);
            UnsafeApi.putLong(h + PID_AT, pid);
            UnsafeApi.putLong(h + STARTED_AT, ProcessIdentity.STARTED_MILLIS);
            UnsafeApi.putLongRelease(null, h + MAGIC_AT, MAGIC);
            // replaces a file of this name left by a dead run; peers that mapped that one see a dead pid and remap
            Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            ownMap = map;
            ownFile = target;
            ownHeader = h;
            data = new UnsafeBuffer(h + HEADER_BYTES, capacityFloats * Float.BYTES);
            header[rank] = h;
            area[rank] = h + HEADER_BYTES;
            peerCapacity[rank] = capacityFloats;
            maps[rank] = map.duplicate().order(ByteOrder.nativeOrder());
            if (rank == 0) setResultArea(capacityFloats);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the allreduce's shared-memory file " + target, e);
        }
    }

    /**
     * Replaces the first {@code floatCount} floats of {@code buffer} with their sum over all ranks. Every rank must
     * call this with the same step and count. {@code buffer} is best {@link #buffer()}; any other is copied into it
     * first and the result copied back.
     *
     * @throws PeerFailureException when a peer shows no sign of life for the peer timeout (or another rank reported
     *                              one that did not); the buffer then holds partial sums, and this generation is over
     */
    public void allreduce(AtomicBuffer buffer, int floatCount, long step) throws PeerFailureException {
        checkOperation(buffer, floatCount, step);
        if (worldSize == 1 || floatCount == 0) return; // a world of one: the buffer is the sum
        boolean copy = !isArea(buffer);
        if (copy) data.putBytes(0, buffer, 0, floatCount * Float.BYTES);
        runGuarded(floatCount, IN_PLACE);
        if (copy) buffer.putBytes(0, data, 0, floatCount * Float.BYTES);
    }

    /**
     * Sums the first {@code floatCount} floats of every rank's {@link #buffer()} into one result that all ranks share,
     * and returns it: {@code floatCount} floats, the same bits as {@link #allreduce} gives. Every rank must call this
     * with the same step and count. The result is for reading only (a write would change every rank's sum) and holds
     * until this rank's next operation; this rank's area may be written as soon as this returns.
     *
     * @throws PeerFailureException as {@link #allreduce}; the result then holds partial sums
     */
    public AtomicBuffer allreduceShared(int floatCount, long step) throws PeerFailureException {
        checkOperation(data == null ? sharedResult : data, floatCount, step);
        if (worldSize == 1 || floatCount == 0) {
            sharedResult.wrap(data.addressOffset(), floatCount * Float.BYTES);
            return sharedResult;
        }
        runGuarded(floatCount, SHARED);
        sharedResult.wrap(resultArea, floatCount * Float.BYTES);
        return sharedResult;
    }

    private void checkOperation(AtomicBuffer buffer, int floatCount, long step) {
        if (generation < 0) throw new IllegalStateException("startGeneration must come before allreduce");
        if (failed != null) {
            throw new IllegalStateException("generation " + generation + " failed (" + failed + "): start a new generation first");
        }
        if (floatCount < 0 || floatCount > capacityFloats) {
            throw new IllegalArgumentException(floatCount + " floats outside this allreduce's capacity [0, " + capacityFloats + "]");
        }
        if ((long) floatCount * Float.BYTES > buffer.capacity()) {
            throw new IllegalArgumentException(floatCount + " floats do not fit a buffer of " + buffer.capacity() + " bytes");
        }
        if (step <= this.step) throw new IllegalArgumentException("step " + step + " is not after the previous step " + this.step);
        this.step = step;
    }

    private void runGuarded(int floatCount, int kind) throws PeerFailureException {
        long tag = op + 1;
        try {
            run(floatCount, tag, kind);
        } catch (PeerFailureException e) {
            failed = e.getMessage();
            UnsafeApi.putInt(ownHeader + ABORT_AT + 8, e.peerRank());
            UnsafeApi.putLongRelease(null, ownHeader + ABORT_AT, tag);
            throw e;
        } catch (RuntimeException e) {
            failed = e.toString();
            UnsafeApi.putInt(ownHeader + ABORT_AT + 8, PeerFailureException.NO_PEER);
            UnsafeApi.putLongRelease(null, ownHeader + ABORT_AT, tag);
            throw e;
        } finally {
            op++;
        }
    }

    private boolean isArea(AtomicBuffer buffer) {
        return buffer.byteArray() == null && buffer.addressOffset() == data.addressOffset();
    }

    private void run(int floatCount, long tag, int kind) throws PeerFailureException {
        long now = System.nanoTime();
        for (int p = 0; p < worldSize; p++) {
            lastSign[p] = now;
            seenBeat[p] = -1;
            seenProgress[p] = -1;
        }
        if (!peersMapped) mapPeers();
        for (int p = 0; p < worldSize; p++) {
            if (peerCapacity[p] < floatCount) {
                throw new IllegalArgumentException("rank " + p + " has room for " + peerCapacity[p] + " floats, not the "
                        + floatCount + " of step " + step + ": every rank's capacityFloats must hold the largest buffer");
            }
        }
        int base = floatCount / worldSize, extra = floatCount % worldSize, start = 0;
        for (int s = 0; s < worldSize; s++) {
            segmentStart[s] = start;
            segmentSize[s] = base + (s < extra ? 1 : 0);
            gathered[s] = 0;
            start += segmentSize[s];
        }
        UnsafeApi.putLong(ownHeader + READY_AT + 8, step);
        UnsafeApi.putInt(ownHeader + READY_AT + 16, floatCount);
        UnsafeApi.putInt(ownHeader + READY_AT + 20, kind);
        UnsafeApi.putLongRelease(null, ownHeader + READY_AT, tag);
        beat();
        for (int p = 0; p < worldSize; p++) {
            if (p == rank) continue;
            while (UnsafeApi.getLongVolatile(null, header[p] + READY_AT) < tag) waitFor(p, tag, WAITED_INPUT, 0);
            long peerStep = UnsafeApi.getLong(header[p] + READY_AT + 8);
            int peerCount = UnsafeApi.getInt(header[p] + READY_AT + 16);
            int peerKind = UnsafeApi.getInt(header[p] + READY_AT + 20);
            if (peerKind != kind) {
                throw new IllegalStateException("rank " + p + " runs step " + step + " as " + kindName(peerKind) + " where rank " + rank
                        + " runs it as " + kindName(kind) + ": every rank must call the same operation");
            }
            if (peerStep != step || peerCount != floatCount) {
                throw new IllegalStateException("rank " + p + " runs step " + peerStep + " of " + peerCount + " floats as this generation's "
                        + "operation " + (tag - 1) + " where rank " + rank + " runs step " + step + " of " + floatCount
                        + ": every rank must reduce the same steps and counts");
            }
        }
        if (kind == SHARED) {
            reduceShared(tag);
            return; // every segment summed: every rank has read all it needs of every area, so no DONE barrier
        }
        reduceAndGather(tag);
        UnsafeApi.putLongRelease(null, ownHeader + DONE_AT, tag);
        beat();
        for (int p = 0; p < worldSize; p++) {
            if (p == rank) continue;
            while (UnsafeApi.getLongVolatile(null, header[p] + DONE_AT) < tag) waitFor(p, tag, WAITED_DONE, 0);
        }
    }

    /**
     * Sums this rank's segment chunk by chunk and, after each chunk, copies whatever the other owners have published
     * meanwhile: a chunk a peer has just summed is still in that core's cache, so it is read from there rather than
     * from memory, and a rank that sums faster than its peers has less to wait for at the end.
     */
    private void reduceAndGather(long tag) throws PeerFailureException {
        long progress = tag << 32;
        int left = 0;
        for (int s = 0; s < worldSize; s++) if (s != rank) left += chunks(s);
        for (int c = 0, chunks = chunks(rank); c < chunks; c++) {
            int first = segmentStart[rank] + c * chunkFloats;
            int count = Math.min(chunkFloats, segmentStart[rank] + segmentSize[rank] - first);
            long at = (long) first * Float.BYTES;
            sumChunk(at, false, count);
            UnsafeApi.putLongRelease(null, ownHeader + REDUCED_AT, progress + c + 1);
            beat();
            if (left > 0) left -= gatherAvailable(progress);
        }
        while (left > 0) {
            int copied = gatherAvailable(progress);
            left -= copied;
            if (copied > 0) {
                beat();
                idle.reset();
            } else if (left > 0) {
                for (int s = 0; s < worldSize; s++) {
                    if (s != rank && gathered[s] < chunks(s)) {
                        waitFor(s, tag, WAITED_CHUNK, gathered[s]);
                        break;
                    }
                }
            }
        }
    }

    private static String kindName(int kind) {
        return kind == SHARED ? "allreduceShared" : "allreduce";
    }

    /**
     * Sums this rank's segment into the shared result area, then waits until every other segment is summed there.
     * The result area is written only here, after every rank announced this operation's input: so no rank still reads
     * the previous operation's result (it holds only until the caller's next operation).
     */
    private void reduceShared(long tag) throws PeerFailureException {
        long progress = tag << 32;
        for (int c = 0, chunks = chunks(rank); c < chunks; c++) {
            int first = segmentStart[rank] + c * chunkFloats;
            int count = Math.min(chunkFloats, segmentStart[rank] + segmentSize[rank] - first);
            long at = (long) first * Float.BYTES;
            sumChunk(at, true, count);
            UnsafeApi.putLongRelease(null, ownHeader + REDUCED_AT, progress + c + 1);
            beat();
        }
        for (int s = 0; s < worldSize; s++) {
            int chunks = chunks(s);
            if (s == rank || chunks == 0) continue; // an empty segment's owner publishes nothing
            long reduced;
            while ((reduced = UnsafeApi.getLongVolatile(null, header[s] + REDUCED_AT) - progress) < chunks) {
                waitFor(s, tag, WAITED_CHUNK, (int) Math.max(0, reduced));
            }
        }
        idle.reset();
    }

    /** Copies every other segment's chunks that their owners have published and this rank does not hold yet. */
    private int gatherAvailable(long progress) {
        int copied = 0;
        for (int s = 0; s < worldSize; s++) {
            if (s == rank) continue;
            int chunks = chunks(s);
            if (gathered[s] == chunks) continue;
            long available = UnsafeApi.getLongVolatile(null, header[s] + REDUCED_AT) - progress;
            if (available <= gathered[s]) continue;
            int upTo = (int) Math.min(available, chunks);
            int first = segmentStart[s] + gathered[s] * chunkFloats;
            int end = Math.min(segmentStart[s] + segmentSize[s], segmentStart[s] + upTo * chunkFloats);
            long offset = (long) first * Float.BYTES;
            UnsafeApi.copyMemory(area[s] + offset, area[rank] + offset, (long) (end - first) * Float.BYTES);
            copied += upTo - gathered[s];
            gathered[s] = upTo;
        }
        return copied;
    }

    private int chunks(int segment) {
        return (segmentSize[segment] + chunkFloats - 1) / chunkFloats;
    }

    /**
     * out[..] = x0 + x1 + ... in rank order, {@code count} floats at byte offset {@code at} of every area. Up to four
     * ranks in one pass (in place too: each element is read before it is written); more through {@link #scratch}, as
     * a rank's own input must stay until it is added.
     */
    private void sumChunk(long at, boolean intoResult, int count) {
        if (VECTOR_SUM) {
            int inAt = Math.toIntExact(HEADER_BYTES + at);
            VectorChunkSum.sum(maps, worldSize, inAt, intoResult ? maps[0] : maps[rank], intoResult ? resultAt + (int) at : inAt, count);
            return;
        }
        long out = (intoResult ? resultArea : area[rank]) + at;
        long a = area[0] + at, b = area[1] + at;
        switch (worldSize) {
            case 2 -> {
                for (int i = 0; i < count; i++) {
                    long o = 4L * i;
                    UnsafeApi.putFloat(out + o, UnsafeApi.getFloat(a + o) + UnsafeApi.getFloat(b + o));
                }
            }
            case 3 -> {
                long c = area[2] + at;
                for (int i = 0; i < count; i++) {
                    long o = 4L * i;
                    UnsafeApi.putFloat(out + o, UnsafeApi.getFloat(a + o) + UnsafeApi.getFloat(b + o) + UnsafeApi.getFloat(c + o));
                }
            }
            case 4 -> {
                long c = area[2] + at, d = area[3] + at;
                for (int i = 0; i < count; i++) {
                    long o = 4L * i;
                    UnsafeApi.putFloat(out + o, UnsafeApi.getFloat(a + o) + UnsafeApi.getFloat(b + o)
                            + UnsafeApi.getFloat(c + o) + UnsafeApi.getFloat(d + o));
                }
            }
            default -> {
                long s = scratch.addressOffset(), c = area[2] + at, d = area[3] + at;
                for (int i = 0; i < count; i++) {
                    long o = 4L * i;
                    UnsafeApi.putFloat(s + o, UnsafeApi.getFloat(a + o) + UnsafeApi.getFloat(b + o)
                            + UnsafeApi.getFloat(c + o) + UnsafeApi.getFloat(d + o));
                }
                for (int p = 4; p < worldSize; p++) {
                    long x = area[p] + at;
                    for (int i = 0; i < count; i++) {
                        long o = 4L * i;
                        UnsafeApi.putFloat(s + o, UnsafeApi.getFloat(s + o) + UnsafeApi.getFloat(x + o));
                    }
                }
                UnsafeApi.copyMemory(s, out, 4L * count);
            }
        }
    }

    private void beat() {
        UnsafeApi.putLongRelease(null, ownHeader + HEARTBEAT_AT, ++beats);
    }

    /**
     * One idle wait for peer {@code p}; ends the operation when it has given up on this operation, shows no sign of
     * life for the peer timeout, or the generation was replaced.
     */
    private void waitFor(int p, long tag, int what, int chunk) throws PeerFailureException {
        long h = header[p];
        long gaveUp = UnsafeApi.getLongVolatile(null, h + ABORT_AT);
        if (gaveUp != 0) { // in this or (after publishing its last counter) the previous operation: it left the generation
            int reported = UnsafeApi.getInt(h + ABORT_AT + 8);
            int named = reported == rank ? p : reported; // it timed out on this rank, which runs: then blame the one that left
            throw new PeerFailureException(named, "rank " + p + " gave up " + (gaveUp == tag ? "step " + step : "an earlier step")
                    + " of generation " + generation
                    + (named >= 0 ? " on rank " + named : " (its generation was replaced)"));
        }
        if (abortBefore > generation) {
            throw new PeerFailureException(PeerFailureException.NO_PEER, "generation " + generation
                    + " was replaced by generation " + abortBefore + " during step " + step);
        }
        long now = System.nanoTime();
        long sign = UnsafeApi.getLongVolatile(null, h + HEARTBEAT_AT);
        long progress = UnsafeApi.getLongVolatile(null, h + READY_AT) + UnsafeApi.getLongVolatile(null, h + REDUCED_AT)
                + UnsafeApi.getLongVolatile(null, h + DONE_AT);
        if (sign != seenBeat[p] || progress != seenProgress[p]) {
            seenBeat[p] = sign;
            seenProgress[p] = progress;
            lastSign[p] = now;
        } else if (now - lastSign[p] > config.peerTimeout().toNanos()) {
            throw new PeerFailureException(p, "rank " + p + " showed no sign of life for " + config.peerTimeout().toMillis()
                    + " ms while rank " + rank + " waited for " + waited(what, chunk) + " (generation " + generation + ", step " + step + ")");
        }
        beat(); // waiting is a sign of life too: peers waiting on this rank must not blame it
        idleCalls++;
        idle.idle();
    }

    private static String waited(int what, int chunk) {
        return switch (what) {
            case WAITED_INPUT -> "its input";
            case WAITED_CHUNK -> "chunk " + chunk + " of its sum";
            default -> "it to finish reading";
        };
    }

    /** The shared result area follows rank 0's data area of {@code rank0Capacity} floats. */
    private void setResultArea(long rank0Capacity) {
        resultAt = Math.toIntExact(HEADER_BYTES + rank0Capacity * Float.BYTES);
        resultArea = area[0] + rank0Capacity * Float.BYTES;
    }

    /** Maps every peer's file of this generation, waiting (within the peer timeout) for each to appear. */
    private void mapPeers() throws PeerFailureException {
        long deadline = System.nanoTime() + config.peerTimeout().toNanos();
        for (int p = 0; p < worldSize; p++) {
            if (p == rank) continue;
            Path f = file(config.directory(), session, generation, p);
            while (true) {
                MappedByteBuffer map = tryMap(f, p);
                if (map != null) {
                    peerMaps[p] = map;
                    header[p] = new UnsafeBuffer(map).addressOffset();
                    area[p] = header[p] + HEADER_BYTES;
                    peerCapacity[p] = UnsafeApi.getLong(header[p] + CAPACITY_AT);
                    maps[p] = map.duplicate().order(ByteOrder.nativeOrder());
                    if (p == 0) setResultArea(peerCapacity[0]);
                    break;
                }
                if (abortBefore > generation) {
                    throw new PeerFailureException(PeerFailureException.NO_PEER, "generation " + generation
                            + " was replaced by generation " + abortBefore + " while rank " + rank + " waited for its peers' files");
                }
                if (System.nanoTime() > deadline) {
                    throw new PeerFailureException(p, "rank " + p + " did not create its shared-memory file " + f + " within "
                            + config.peerTimeout().toMillis() + " ms (generation " + generation + ")");
                }
                beat();
                idleCalls++;
                idle.idle();
            }
        }
        idle.reset();
        peersMapped = true;
    }

    /** The peer's file when it is there, complete, of this generation and world, and its owner runs. */
    private MappedByteBuffer tryMap(Path f, int p) {
        MappedByteBuffer map;
        try {
            if (!Files.exists(f) || Files.size(f) < HEADER_BYTES) return null;
            map = IoUtil.mapExistingFile(f.toFile(), "allreduce peer " + p);
        } catch (IOException | RuntimeException e) {
            return null; // renamed or deleted between the checks: a later look finds the current one
        }
        long h = new UnsafeBuffer(map).addressOffset();
        boolean fits = UnsafeApi.getLongVolatile(null, h + MAGIC_AT) == MAGIC
                && UnsafeApi.getInt(h + RANK_AT) == p && UnsafeApi.getInt(h + WORLD_AT) == worldSize
                && UnsafeApi.getLong(h + GENERATION_AT) == generation
                && map.capacity() >= fileLength(p, UnsafeApi.getLong(h + CAPACITY_AT))
                && ProcessIdentity.running(UnsafeApi.getLong(h + PID_AT), UnsafeApi.getLong(h + STARTED_AT));
        if (!fits) {
            IoUtil.unmap(map);
            return null;
        }
        return map;
    }

    /** Unmaps every file of the current generation and deletes this rank's. */
    private void release() {
        for (int p = 0; p < peerMaps.length; p++) {
            if (peerMaps[p] != null) IoUtil.unmap(peerMaps[p]);
            peerMaps[p] = null;
        }
        java.util.Arrays.fill(maps, null);
        data = null;
        resultArea = 0;
        sharedResult.wrap(0, 0);
        if (ownMap != null) {
            IoUtil.unmap(ownMap);
            ownMap = null;
        }
        if (ownFile != null) {
            try {
                Files.deleteIfExists(ownFile);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot delete the allreduce's shared-memory file " + ownFile, e);
            }
            ownFile = null;
        }
    }

    @Override
    public void close() {
        release();
    }
}
