package io.mert.worker;

import io.mert.data.DemoCorpus;
import io.mert.data.KMeansTeacher;
import io.mert.data.Manifest;
import io.mert.data.ManifestBuilder;
import io.mert.data.ReadableClips;
import io.mert.data.TrainingClips;
import io.mert.data.UnreadableAudioException;
import io.mert.model.Batch;
import io.mert.model.MertConfig;
import io.mert.model.config.MixupConfig;
import io.mert.model.features.Cqt;
import io.mert.protocol.ShardPlan;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The prefetcher hands out exactly the batches an inline build gives, whatever the sequence of (step,
 * rank, world size) the coordinator asks for; a strict data error surfaces with the step that uses the
 * batch and never with one that is not run; the loader thread ends with the prefetcher. Real corpus, real
 * {@link StepBatches}.
 */
class BatchPrefetcherTest {

    private static final int CROP = 16000, GLOBAL = 2;
    private static final long SEED = 1337;
    private static final MertConfig MODEL = MertConfig.tiny().withLabelClasses(List.of(8));

    @TempDir
    static Path work;
    static Manifest manifest;
    static List<Path> labels;

    @BeforeAll
    static void data() throws Exception {
        DemoCorpus.generate(work.resolve("corpus"), 6, 3);
        ManifestBuilder.build(ManifestBuilder.Options.defaults(work.resolve("corpus"), work.resolve("audio"), work.resolve("m"))
                .withValidFraction(0));
        KMeansTeacher.run(KMeansTeacher.Options.defaults(work.resolve("m"), work.resolve("l")).withK(8));
        manifest = Manifest.read(work.resolve("m/train.tsv"));
        labels = List.of(work.resolve("l/train.km"));
    }

    private static TrainingClips clips(Manifest m) throws Exception {
        return new TrainingClips(m, labels, CROP, MODEL.framesFor(CROP));
    }

    private static StepBatches batches(TrainingClips clips, boolean strict) {
        return new StepBatches(new BatchAssembler(MODEL, new ReadableClips(clips), strict, Cqt.mert(), CROP, SEED, MixupConfig.OFF),
                new ShardPlan(SEED, GLOBAL, clips.size()));
    }

    /** (step, rank, world size) as a recovering run asks for them: a retried step, a new world size, a rollback. */
    private static final long[][] REQUESTS = {
            {0, 0, 1}, {1, 0, 1}, {2, 0, 1},
            {2, 0, 1},             // step 2 failed (a peer died) and is run again in a new generation
            {2, 1, 2}, {3, 1, 2},  // a worker joined: this one is now rank 1 of 2
            {1, 1, 2},             // rolled back to a checkpoint
            {2, 1, 2}, {3, 1, 2}, {4, 0, 1}, {5, 0, 1}};

    @Test
    void theBatchesAreBitIdenticalWithAndWithoutPrefetch() throws Exception {
        TrainingClips clips = clips(manifest);
        StepBatches reference = batches(clips, false);
        List<StepBatches.Built> expected = new ArrayList<>();
        for (long[] r : REQUESTS) expected.add(reference.build(r[0], (int) r[1], (int) r[2]));
        for (int depth : new int[]{0, 1, 3}) {
            StepBatches steps = batches(clips, false);
            Map<List<Long>, String> builtOn = new ConcurrentHashMap<>();
            try (BatchPrefetcher p = new BatchPrefetcher((s, rank, world) -> {
                builtOn.putIfAbsent(List.of(s, (long) rank, (long) world), Thread.currentThread().getName()); // the first build
                return steps.build(s, rank, world);
            }, depth)) {
                for (int i = 0; i < REQUESTS.length; i++) {
                    long[] r = REQUESTS[i];
                    assertSameBatch(expected.get(i), p.take(r[0], (int) r[1], (int) r[2]), "depth " + depth + ", request " + i);
                    assertEquals(depth, p.queued(), "the next steps are queued");
                }
            }
            // what was served from the loader thread and what was built inline
            String step1 = builtOn.get(List.of(1L, 0L, 1L)), joined = builtOn.get(List.of(2L, 1L, 2L)),
                    after = builtOn.get(List.of(5L, 0L, 1L));
            String caller = Thread.currentThread().getName();
            assertEquals(depth == 0 ? caller : "loader", step1.startsWith("mert-batch-prefetch-") ? "loader" : step1, "depth " + depth);
            assertEquals(caller, joined, "a new rank and world size are built inline (depth " + depth + ")");
            assertEquals(depth == 0 ? caller : "loader", after.startsWith("mert-batch-prefetch-") ? "loader" : after, "depth " + depth);
        }
    }

    private static void assertSameBatch(StepBatches.Built want, StepBatches.Built got, String where) {
        assertEquals(want.digest(), got.digest(), where);
        assertEquals(want.replaced(), got.replaced(), where);
        Batch a = want.batch(), b = got.batch();
        assertArrayEquals(a.waveforms(), b.waveforms(), where);
        assertArrayEquals(a.cqt(), b.cqt(), where);
        assertArrayEquals(a.mask(), b.mask(), where);
        assertArrayEquals(a.labels()[0], b.labels()[0], where);
        assertEquals(a.featurePenaltyScale(), b.featurePenaltyScale(), where);
    }

    @Test
    void aStrictDataErrorSurfacesWithTheStepThatUsesTheBatchOnly() throws Exception {
        // a copy of the audio with the clip first drawn at step 2 damaged (its WAV header claims more data)
        Path badRoot = work.resolve("audio-bad");
        try (Stream<Path> files = Files.walk(manifest.root())) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Path to = badRoot.resolve(manifest.root().relativize(f).toString());
                if (Files.isDirectory(f)) Files.createDirectories(to);
                else Files.copy(f, to);
            }
        }
        Manifest bad = new Manifest(badRoot, manifest.entries());
        TrainingClips probe = clips(bad);
        ShardPlan plan = new ShardPlan(SEED, GLOBAL, probe.size());
        Set<Integer> early = new HashSet<>();
        for (int s = 0; s < 2; s++) for (int i : plan.manifestIndices(s, 0, 1)) early.add(i);
        int victim = -1;
        for (int i : plan.manifestIndices(2, 0, 1)) if (!early.contains(i)) victim = i;
        assertTrue(victim >= 0, "a clip first drawn at step 2");
        Path file = bad.resolve(probe.entryIndex(victim));
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(f.length() / 2);
        }

        StepBatches steps = batches(clips(bad), true);
        try (BatchPrefetcher p = new BatchPrefetcher(steps::build, 2)) {
            p.take(0, 0, 1);
            p.take(1, 0, 1); // step 2 fails on the loader thread meanwhile: nothing is thrown here
            p.take(1, 0, 1); // step 1 again (say a peer failed): the failed prefetch of step 2 is dropped unseen
            UnreadableAudioException e = assertThrows(UnreadableAudioException.class, () -> p.take(2, 0, 1));
            assertEquals(probe.path(victim), e.path());
            // the same error from a batch that was prefetched, not built inline
            StepBatches again = batches(clips(bad), true);
            try (BatchPrefetcher q = new BatchPrefetcher(again::build, 1)) {
                q.take(1, 0, 1);
                UnreadableAudioException fromLoader = assertThrows(UnreadableAudioException.class, () -> q.take(2, 0, 1));
                assertEquals(e.path(), fromLoader.path());
                assertEquals(e.getMessage(), fromLoader.getMessage());
            }
        }

        // not strict: the replacement is reported with the step that trains on it, exactly as inline
        StepBatches inline = batches(clips(bad), false), ahead = batches(clips(bad), false);
        try (BatchPrefetcher p = new BatchPrefetcher(ahead::build, 1)) {
            for (int s = 0; s < 4; s++) {
                StepBatches.Built want = inline.build(s, 0, 1), got = p.take(s, 0, 1);
                assertSameBatch(want, got, "step " + s);
                if (s < 2) assertTrue(got.replaced().isEmpty(), "step " + s);
                if (s == 2) {
                    String victimPath = probe.path(victim);
                    assertTrue(got.replaced().stream().anyMatch(x -> x.unreadable().stream().anyMatch(u -> u.path().equals(victimPath))),
                            "step 2 reports its replaced draw: " + got.replaced());
                }
            }
        }
    }

    @Test
    void theLoaderThreadEndsWithThePrefetcher() throws Exception {
        StepBatches steps = batches(clips(manifest), false);
        for (int i = 0; i < 20; i++) {
            try (BatchPrefetcher p = new BatchPrefetcher(steps::build, 1 + i % 3)) {
                if (i % 5 == 0) p.take(i, 0, 1); // some with a build in flight when they close
            }
        }
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (loaderThreads() > 0 && System.nanoTime() < deadline) Thread.sleep(20);
        assertEquals(0, loaderThreads(), "no loader thread outlives its prefetcher");
        try (BatchPrefetcher inline = new BatchPrefetcher(steps::build, 0)) {
            inline.take(0, 0, 1);
            inline.take(1, 0, 1);
            assertEquals(0, loaderThreads(), "depth 0 starts no thread");
        }
    }

    private static long loaderThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && t.getName().startsWith("mert-batch-prefetch-")).count();
    }
}
