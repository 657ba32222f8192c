package io.mert.allreduce;

import org.agrona.concurrent.AtomicBuffer;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@link ShmAllReduce} with ranks as threads of this JVM (each with its own object and mapped files), in a temporary
 * directory: sums against a float64 reference, bit-identical ranks, a silent peer, stale files, steady-state allocation.
 */
class ShmAllReduceTest {

    private static final ExecutorService POOL = Executors.newCachedThreadPool();

    @TempDir
    Path dir;

    @AfterAll
    static void stop() {
        POOL.shutdownNow();
    }

    private ShmAllReduceConfig config(Duration timeout, int chunkBytes) {
        return new ShmAllReduceConfig(dir, chunkBytes, timeout);
    }

    private static List<ShmAllReduce> world(String session, int n, int capacity, ShmAllReduceConfig config, long generation) {
        List<ShmAllReduce> out = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            ShmAllReduce a = new ShmAllReduce(session, capacity, config);
            a.startGeneration(generation, r, n);
            out.add(a);
        }
        return out;
    }

    private static UnsafeBuffer offHeap(float[] values) {
        UnsafeBuffer b = new UnsafeBuffer(ByteBuffer.allocateDirect(Math.max(4, 4 * values.length)).order(ByteOrder.nativeOrder()));
        for (int i = 0; i < values.length; i++) b.putFloat(4 * i, values[i]);
        return b;
    }

    /** How a test operation is called: in the area, through a buffer of the caller's (copied), or with a shared result. */
    enum Kind { AREA, COPY, SHARED }

    private static float[][] reduce(List<ShmAllReduce> ranks, float[][] in, long step, boolean copy) throws Exception {
        return reduce(ranks, in, step, copy ? Kind.COPY : Kind.AREA);
    }

    /**
     * One operation on every rank at once; each rank's values go into its {@link ShmAllReduce#buffer()} (or, with
     * {@link Kind#COPY}, a buffer of its own). Returns each rank's result as floats, read where that rank sees it.
     */
    private static float[][] reduce(List<ShmAllReduce> ranks, float[][] in, long step, Kind kind) throws Exception {
        int n = in[0].length;
        List<Future<AtomicBuffer>> done = new ArrayList<>();
        for (int r = 0; r < ranks.size(); r++) {
            ShmAllReduce a = ranks.get(r);
            AtomicBuffer b = kind == Kind.COPY ? offHeap(in[r]) : a.buffer();
            if (kind != Kind.COPY) for (int i = 0; i < n; i++) b.putFloat(4 * i, in[r][i]);
            done.add(POOL.submit(() -> {
                if (kind == Kind.SHARED) return a.allreduceShared(n, step);
                a.allreduce(b, n, step);
                return b;
            }));
        }
        float[][] out = new float[ranks.size()][n];
        for (int r = 0; r < ranks.size(); r++) {
            AtomicBuffer result;
            try {
                result = done.get(r).get(60, TimeUnit.SECONDS);
            } catch (java.util.concurrent.TimeoutException hung) {
                // end the operations before the test unmaps their files: a rank still reading would crash the JVM
                for (ShmAllReduce a : ranks) a.abortBefore(Long.MAX_VALUE);
                for (Future<AtomicBuffer> f : done) {
                    try {
                        f.get(10, TimeUnit.SECONDS);
                    } catch (Exception ignored) {
                        // aborted, as asked
                    }
                }
                throw new AssertionError("rank " + r + " did not finish step " + step + " within 60 s", hung);
            }
            for (int i = 0; i < n; i++) out[r][i] = result.getFloat(4 * i);
        }
        return out;
    }

    /** Within n · 2^-24 · Σ|x| of the float64 sum (recursive float32 summation of n terms), and the same bits everywhere. */
    static void check(float[][] in, float[][] out, String where) {
        for (int i = 0; i < in[0].length; i++) {
            double sum = 0, abs = 0;
            for (float[] row : in) {
                sum += row[i];
                abs += Math.abs(row[i]);
            }
            double tolerance = in.length * 0x1p-24 * abs;
            int bits = Float.floatToRawIntBits(out[0][i]);
            for (int r = 0; r < out.length; r++) {
                if (Math.abs(out[r][i] - sum) > tolerance) {
                    fail(where + ": element " + i + " of rank " + r + " is " + out[r][i] + ", reference " + sum + " ± " + tolerance);
                }
                if (Float.floatToRawIntBits(out[r][i]) != bits) fail(where + ": ranks 0 and " + r + " differ at element " + i);
            }
        }
    }

    private static float[][] random(Random rnd, int ranks, int n) {
        float[][] x = new float[ranks][n];
        for (float[] row : x) for (int i = 0; i < n; i++) row[i] = (float) (rnd.nextGaussian() * Math.pow(10, rnd.nextInt(7) - 3));
        return x;
    }

    /** An operation of one rank, as a test calls it. */
    private interface Operation {
        void run(ShmAllReduce rank) throws PeerFailureException;
    }

    /** Ranks 0 and 1 run {@code op} while rank 2 stays silent: both must fail naming rank 2, at about the timeout. */
    private static void assertRanks0And1NameSilentRank2(List<ShmAllReduce> world, Operation op) throws Exception {
        List<Future<PeerFailureException>> f = new ArrayList<>();
        for (int r = 0; r < 2; r++) {
            ShmAllReduce a = world.get(r);
            f.add(POOL.submit(() -> {
                try {
                    op.run(a);
                    return null;
                } catch (PeerFailureException e) {
                    return e;
                }
            }));
        }
        long t0 = System.nanoTime();
        for (int r = 0; r < 2; r++) {
            PeerFailureException e = f.get(r).get(20, TimeUnit.SECONDS);
            assertNotNull(e, "rank " + r + " must not complete without rank 2");
            assertEquals(2, e.peerRank(), "rank " + r + " names the silent rank: " + e.getMessage());
        }
        assertTrue((System.nanoTime() - t0) / 1e9 < 10, "failure must be reported about the timeout");
    }

    private static void closeAll(List<ShmAllReduce> ranks) {
        ranks.forEach(ShmAllReduce::close);
    }

    /**
     * Property style with seeded randomness: 1..8 ranks, chunks of 4..64 KiB, sizes from 0, 1, primes and random
     * counts (mostly not divisible by the ranks or the chunk), through the area, the copy path and the shared result.
     */
    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
    void everyRankHoldsTheReferenceSum(long seed) throws Exception {
        Random rnd = new Random(seed);
        int ranks = 1 + (int) ((seed - 1) % 8);
        int chunkBytes = 64 * (64 + rnd.nextInt(961)); // 4 KiB .. 64 KiB, any multiple of 64
        int chunkFloats = chunkBytes / 4;
        int[] special = {0, 1, 2, 3, 7, 13, 1021, chunkFloats - 1, chunkFloats, chunkFloats + 1, ranks * chunkFloats + 3};
        int capacity = 300_007;
        String where = "seed " + seed + ": " + ranks + " ranks, chunks of " + chunkFloats + " floats";
        List<ShmAllReduce> world = world("prop" + seed, ranks, capacity, config(Duration.ofSeconds(20), chunkBytes), 1);
        try {
            long step = 0;
            for (int k = 0; k < 6; k++) {
                int n = k < 3 ? special[rnd.nextInt(special.length)] : rnd.nextInt(k == 5 ? capacity + 1 : 50_000);
                float[][] in = random(rnd, ranks, n);
                Kind kind = Kind.values()[(k + (int) seed) % 3];
                check(in, reduce(world, in, step, kind), where + ", step " + step + ", n " + n + ", " + kind);
                step += 1 + rnd.nextInt(3);
            }
        } finally {
            closeAll(world);
        }
    }

    @Test
    void integerSumsAreExactAndHeapBuffersAreCopiedInAndOut() throws Exception {
        List<ShmAllReduce> world = world("ints", 3, 20_011, config(Duration.ofSeconds(20), 4096), 7);
        try {
            Random rnd = new Random(9);
            float[][] in = new float[3][20_011];
            for (float[] row : in) for (int i = 0; i < row.length; i++) row[i] = rnd.nextInt(1 << 20) - (1 << 19);
            List<Future<?>> done = new ArrayList<>();
            List<UnsafeBuffer> bufs = new ArrayList<>();
            for (int r = 0; r < 3; r++) {
                // a byte[] with the floats at an offset: the copy path must use the array, not an address
                UnsafeBuffer b = new UnsafeBuffer(new byte[4 * 20_011 + 12], 4, 4 * 20_011);
                for (int i = 0; i < 20_011; i++) b.putFloat(4 * i, in[r][i]);
                bufs.add(b);
                ShmAllReduce a = world.get(r);
                done.add(POOL.submit((Callable<Void>) () -> {
                    a.allreduce(b, 20_011, 0);
                    return null;
                }));
            }
            for (Future<?> f : done) f.get(60, TimeUnit.SECONDS);
            for (int i = 0; i < 20_011; i++) {
                float expected = in[0][i] + in[1][i] + in[2][i]; // below 2^24: exact
                for (int r = 0; r < 3; r++) assertEquals(expected, bufs.get(r).getFloat(4 * i), "rank " + r + " element " + i);
            }
        } finally {
            closeAll(world);
        }
    }

    @Test
    void aSilentPeerFailsTheOperationWithinTheTimeoutAndTheSurvivorsGoOn() throws Exception {
        List<ShmAllReduce> world = world("silent", 3, 100_000, config(Duration.ofMillis(1500), 16384), 1);
        try {
            Random rnd = new Random(3);
            float[][] in = random(rnd, 3, 30_000);
            check(in, reduce(world, in, 0, false), "step 0");
            // rank 2 stops: it does not take part in step 1
            assertRanks0And1NameSilentRank2(world, a -> a.allreduce(a.buffer(), 30_000, 1));
            // the failed generation is over for the survivors
            ShmAllReduce r0 = world.get(0);
            IllegalStateException over = assertThrows(IllegalStateException.class, () -> r0.allreduce(r0.buffer(), 10, 2));
            assertTrue(over.getMessage().contains("start a new generation"), over.getMessage());

            // generation 2 with the survivors, reusing the same objects
            world.get(0).startGeneration(2, 0, 2);
            world.get(1).startGeneration(2, 1, 2);
            float[][] in2 = random(rnd, 2, 12_345);
            check(in2, reduce(world.subList(0, 2), in2, 2, false), "generation 2");
            try (Stream<Path> files = Files.list(dir)) {
                List<String> names = files.map(p -> p.getFileName().toString()).sorted().toList();
                // rank 2 still holds generation 1; the survivors deleted theirs when they entered generation 2
                assertEquals(List.of("mert-allreduce-silent-g1-r2.shm", "mert-allreduce-silent-g2-r0.shm",
                        "mert-allreduce-silent-g2-r1.shm"), names);
            }
        } finally {
            closeAll(world);
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(0, files.count(), "close deletes every rank's file");
        }
    }

    @Test
    void aReplacedGenerationEndsAWaitingOperationAtOnce() throws Exception {
        List<ShmAllReduce> world = world("replaced", 2, 1000, config(Duration.ofSeconds(60), 4096), 1);
        try {
            ShmAllReduce a = world.get(0);
            Future<PeerFailureException> f = POOL.submit(() -> {
                try {
                    a.allreduce(a.buffer(), 1000, 0);
                    return null;
                } catch (PeerFailureException e) {
                    return e;
                }
            });
            Thread.sleep(300);
            a.abortBefore(2);
            PeerFailureException e = f.get(10, TimeUnit.SECONDS);
            assertNotNull(e);
            assertEquals(PeerFailureException.NO_PEER, e.peerRank(), e.getMessage());
        } finally {
            closeAll(world);
        }
    }

    @Test
    void aStaleFileOfADeadProcessIsReplacedAndIgnored() throws Exception {
        // a file under rank 1's name, complete and of the right generation, but left by a process that no longer runs
        Process dead = new ProcessBuilder("true").start();
        dead.waitFor();
        Path stale = writeHeader(ShmAllReduce.file(dir, "stale", 1, 1), 1, dead.pid(), 1);
        UnsafeBuffer counters = new UnsafeBuffer(new byte[896]);
        for (int i = 0; i < 896; i += 8) counters.putLong(i, Long.MAX_VALUE); // counters claiming everything is done
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(stale, java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(counters.byteArray()), 128);
        }

        ShmAllReduce r0 = new ShmAllReduce("stale", 100, config(Duration.ofSeconds(20), 4096));
        r0.startGeneration(1, 0, 2);
        try {
            Future<PeerFailureException> f = POOL.submit(() -> {
                try {
                    for (int i = 0; i < 100; i++) r0.buffer().putFloat(4 * i, i);
                    r0.allreduce(r0.buffer(), 100, 0);
                    return null;
                } catch (PeerFailureException e) {
                    return e;
                }
            });
            Thread.sleep(500);
            assertFalse(f.isDone(), "rank 0 must not take the stale file for rank 1");
            try (ShmAllReduce r1 = new ShmAllReduce("stale", 100, config(Duration.ofSeconds(20), 4096))) {
                r1.startGeneration(1, 1, 2);
                for (int i = 0; i < 100; i++) r1.buffer().putFloat(4 * i, 1000 * i);
                r1.allreduce(r1.buffer(), 100, 0);
                assertNull(f.get(20, TimeUnit.SECONDS));
                for (int i = 0; i < 100; i++) {
                    assertEquals(1001f * i, r0.buffer().getFloat(4 * i));
                    assertEquals(1001f * i, r1.buffer().getFloat(4 * i));
                }
            }
        } finally {
            r0.close();
        }
    }

    @Test
    void enteringAGenerationDeletesEarlierFilesOfDeadRanksOnly() throws Exception {
        Process dead = new ProcessBuilder("true").start();
        dead.waitFor();
        Path killed = writeHeader(ShmAllReduce.file(dir, "sweep", 3, 2), 2, dead.pid(), 3);
        Path alive = writeHeader(ShmAllReduce.file(dir, "sweep", 3, 1), 1, ProcessHandle.current().pid(), 3);
        Path later = writeHeader(ShmAllReduce.file(dir, "sweep", 9, 1), 1, dead.pid(), 9);
        Path otherJob = writeHeader(ShmAllReduce.file(dir, "sweep2", 3, 2), 2, dead.pid(), 3);
        try (ShmAllReduce a = new ShmAllReduce("sweep", 10, config(Duration.ofSeconds(5), 4096))) {
            a.startGeneration(4, 0, 2);
            assertFalse(Files.exists(killed), "a dead rank's file of an earlier generation is deleted");
            assertTrue(Files.exists(alive), "a running rank's file stays");
            assertTrue(Files.exists(later), "a later generation's file stays");
            assertTrue(Files.exists(otherJob), "another session's file stays");
        }
    }

    @Test
    void aFileWhosePidNowBelongsToAnotherProcessCountsAsDead() throws Exception {
        // pids are reused: this JVM runs under the pid, but it did not start in 1970
        long self = ProcessHandle.current().pid();
        long started = ProcessHandle.current().info().startInstant().orElseThrow().toEpochMilli();
        Path reused = writeHeader(ShmAllReduce.file(dir, "reuse", 3, 2), 2, self, 3, 1);
        Path mine = writeHeader(ShmAllReduce.file(dir, "reuse", 3, 1), 1, self, 3, started);
        assertFalse(ProcessIdentity.running(self, 1));
        assertTrue(ProcessIdentity.running(self, started));
        assertTrue(ProcessIdentity.running(self, 0), "an owner that could not tell its start counts by its pid alone");
        try (ShmAllReduce a = new ShmAllReduce("reuse", 10, config(Duration.ofSeconds(5), 4096))) {
            a.startGeneration(4, 0, 2);
            assertFalse(Files.exists(reused), "the file of a pid now used by another process is deleted");
            assertTrue(Files.exists(mine), "the file of the process that runs under its pid stays");
            assertEquals(java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"),
                    Files.getPosixFilePermissions(ShmAllReduce.file(dir, "reuse", 4, 0)), "only this user may map a rank's gradients");
        }
    }

    private static Path writeHeader(Path file, int rank, long pid, long generation) throws Exception {
        return writeHeader(file, rank, pid, generation, 0);
    }

    /** A complete file header as {@link ShmAllReduce} writes it (100 floats); {@code started} 0: the owner's start unknown. */
    private static Path writeHeader(Path file, int rank, long pid, long generation, long started) throws Exception {
        UnsafeBuffer h = new UnsafeBuffer(new byte[ShmAllReduce.HEADER_BYTES + 4 * 100]);
        h.putLong(0, ShmAllReduce.MAGIC);
        h.putInt(8, rank);
        h.putInt(12, 2);
        h.putLong(16, generation);
        h.putLong(24, 100);
        h.putLong(32, pid);
        h.putLong(40, started);
        Files.write(file, h.byteArray());
        return file;
    }

    @ParameterizedTest(name = "different {0}")
    @ValueSource(strings = {"steps", "counts"})
    void ranksThatDisagreeOnTheStepOrCountAreToldSo(String what) throws Exception {
        List<ShmAllReduce> world = world(what, 2, 1000, config(Duration.ofSeconds(20), 4096), 1);
        try {
            List<Future<Exception>> f = new ArrayList<>();
            for (int r = 0; r < 2; r++) {
                ShmAllReduce a = world.get(r);
                long step = what.equals("steps") ? 10 + r : 10;
                int count = what.equals("counts") ? 900 + r : 1000;
                f.add(POOL.submit(() -> {
                    try {
                        a.allreduce(a.buffer(), count, step);
                        return null;
                    } catch (Exception e) {
                        return e;
                    }
                }));
            }
            for (Future<Exception> e : f) {
                Exception x = e.get(30, TimeUnit.SECONDS);
                assertNotNull(x);
                assertTrue(x.getMessage().contains("every rank must reduce the same steps and counts") || x instanceof PeerFailureException,
                        x.toString());
            }
        } finally {
            closeAll(world);
        }
    }

    @Test
    void theSharedResultHasTheBitsOfTheInPlaceSumAndHoldsUntilTheNextOperation() throws Exception {
        Random rnd = new Random(42);
        List<ShmAllReduce> world = world("shared", 4, 50_000, config(Duration.ofSeconds(20), 4096), 3);
        try {
            float[][] in = random(rnd, 4, 49_999);
            float[][] inPlace = reduce(world, in, 0, Kind.AREA);
            float[][] shared = reduce(world, in, 1, Kind.SHARED);
            for (int r = 0; r < 4; r++) assertArrayEquals(inPlace[0], shared[r], "rank " + r);
            // in place again, then shared with other values: the shared result follows, and mixing kinds is fine
            float[][] in2 = random(rnd, 4, 1_000);
            check(in2, reduce(world, in2, 2, Kind.AREA), "in place after shared");
            check(in2, reduce(world, in2, 3, Kind.SHARED), "shared after in place");
        } finally {
            closeAll(world);
        }
    }

    @Test
    void aSilentPeerFailsASharedOperationWithinTheTimeout() throws Exception {
        List<ShmAllReduce> world = world("silent-shared", 3, 10_000, config(Duration.ofMillis(1500), 4096), 1);
        try {
            Random rnd = new Random(4);
            float[][] in = random(rnd, 3, 9_999);
            check(in, reduce(world, in, 0, Kind.SHARED), "step 0");
            // rank 2 stops after step 0: the others wait for it in step 1 and must name it
            assertRanks0And1NameSilentRank2(world, a -> a.allreduceShared(9_999, 1));
        } finally {
            closeAll(world);
        }
    }

    /**
     * More ranks than cores, and every rank overwrites its input as soon as an operation returns (as training does
     * with its next gradients): no rank may still be reading an input for the shared result when its owner returns,
     * or the result that the others read would change under them. Integer inputs: exact sums.
     */
    @Test
    void ranksOverwritingTheirInputAsSoonAsAnOperationReturnsNeverChangeTheSharedResult() throws Exception {
        int ranks = 6, n = 40_000, ops = 150;
        List<ShmAllReduce> world = world("overwrite", ranks, n, config(Duration.ofSeconds(30), 4096), 1);
        try {
            List<Future<String>> done = new ArrayList<>();
            for (int r = 0; r < ranks; r++) {
                ShmAllReduce a = world.get(r);
                int rank = r;
                done.add(POOL.submit(() -> {
                    AtomicBuffer in = a.buffer();
                    for (int step = 0; step < ops; step++) {
                        for (int i = 0; i < n; i++) in.putFloat(4 * i, (i + step) % 97 + rank);
                        AtomicBuffer sum = a.allreduceShared(n, step);
                        for (int i = 0; i < n; i++) {
                            float expected = ranks * ((i + step) % 97) + ranks * (ranks - 1) / 2f;
                            if (sum.getFloat(4 * i) != expected) {
                                return "rank " + rank + ", step " + step + ", element " + i + ": " + sum.getFloat(4 * i) + " for " + expected;
                            }
                        }
                        for (int i = 0; i < n; i++) in.putFloat(4 * i, Float.NaN); // the next step's work begins here
                    }
                    return null;
                }));
            }
            for (Future<String> f : done) assertNull(f.get(120, TimeUnit.SECONDS));
        } finally {
            closeAll(world);
        }
    }

    @Test
    void ranksThatCallDifferentOperationsAreToldSo() throws Exception {
        List<ShmAllReduce> world = world("kinds", 2, 1000, config(Duration.ofSeconds(20), 4096), 1);
        try {
            Future<Exception> shared = POOL.submit(() -> {
                try {
                    world.get(0).allreduceShared(1000, 5);
                    return null;
                } catch (Exception e) {
                    return e;
                }
            });
            Exception inPlace = null;
            try {
                world.get(1).allreduce(world.get(1).buffer(), 1000, 5);
            } catch (Exception e) {
                inPlace = e;
            }
            for (Exception x : new Exception[] {shared.get(30, TimeUnit.SECONDS), inPlace}) {
                assertNotNull(x);
                assertTrue(x.getMessage().contains("every rank must call the same operation") || x instanceof PeerFailureException,
                        x.toString());
            }
        } finally {
            closeAll(world);
        }
    }

    @Test
    void badArgumentsAreRefusedClearly() {
        ShmAllReduceConfig c = config(Duration.ofSeconds(1), 4096);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new ShmAllReduce("a/b", 10, c)).getMessage().contains("session"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new ShmAllReduce("a", 10, c.withDirectory(dir.resolve("none"))))
                .getMessage().contains("does not exist"));
        assertThrows(IllegalArgumentException.class, () -> c.withChunkBytes(100));
        try (ShmAllReduce a = new ShmAllReduce("args", 10, c)) {
            assertThrows(IllegalStateException.class, () -> a.allreduce(offHeap(new float[1]), 1, 0));
            a.startGeneration(1, 0, 1);
            assertTrue(assertThrows(IllegalArgumentException.class, () -> a.allreduce(a.buffer(), 11, 0)).getMessage().contains("capacity"));
        }
    }

    @Test
    void steadyStateAllocatesNothingPerOperation() throws Exception {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        List<ShmAllReduce> world = world("alloc", 3, 100_000, config(Duration.ofSeconds(20), 16384), 1);
        try {
            UnsafeBuffer own = offHeap(new float[100_000]);
            List<Future<?>> others = new ArrayList<>();
            for (int r = 1; r < 3; r++) {
                ShmAllReduce a = world.get(r);
                others.add(POOL.submit((Callable<Void>) () -> {
                    for (int s = 0; s < 300; s++) {
                        if (s % 3 == 2) a.allreduceShared(100_000, s);
                        else a.allreduce(s % 3 == 0 ? a.buffer() : own(a), 100_000, s);
                    }
                    return null;
                }));
            }
            ShmAllReduce a = world.get(0);
            long tid = Thread.currentThread().getId(), before = 0;
            for (int s = 0; s < 300; s++) {
                if (s == 100) before = mx.getThreadAllocatedBytes(tid);
                if (s % 3 == 2) a.allreduceShared(100_000, s); // the area, the copy path and the shared result in turn
                else a.allreduce(s % 3 == 0 ? a.buffer() : own, 100_000, s);
            }
            long perOp = (mx.getThreadAllocatedBytes(tid) - before) / 200;
            for (Future<?> f : others) f.get(60, TimeUnit.SECONDS);
            assertTrue(perOp < 64, "allocated " + perOp + " bytes per allreduce on the calling thread");
        } finally {
            closeAll(world);
        }
    }

    private static final java.util.Map<ShmAllReduce, UnsafeBuffer> OWN = new java.util.concurrent.ConcurrentHashMap<>();

    private static UnsafeBuffer own(ShmAllReduce a) {
        return OWN.computeIfAbsent(a, k -> offHeap(new float[100_000]));
    }
}
