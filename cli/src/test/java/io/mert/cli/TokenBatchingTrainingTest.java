package io.mert.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.mert.coordinator.CoordinatorSettings;
import io.mert.coordinator.RunListener;
import io.mert.data.DemoCorpus;
import io.mert.data.KMeansTeacher;
import io.mert.data.ManifestBuilder;
import io.mert.data.WavFile;
import io.mert.model.checkpoint.FloatTensor;
import io.mert.model.checkpoint.SafeTensors;
import io.mert.model.config.TrainConfig;
import io.mert.protocol.ShardPlan;
import io.mert.worker.SessionFactories;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code dataset.max_tokens} batches on real clips of different lengths (0.2 to 1 s of rendered music): the
 * steps have different clip counts and crop lengths, and training with 1 and 2 workers ends at the same
 * model, as does a run stopped at its checkpoint and resumed.
 */
class TokenBatchingTrainingTest {

    private static final int STEPS = 8; // more than an epoch of these clips
    private static final double[] PIECE_SECONDS = {0.4, 0.9, 0.55, 1.0, 0.35, 0.7, 0.8, 0.45, 0.6, 0.2};

    @TempDir
    static Path work;
    static DemoPipeline.Prepared data;
    static int tooShort; // pieces below task.min_sample_size

    /** Rendered demo music cut into short pieces of the lengths above; one of 0.2 s is below task.min_sample_size. */
    @BeforeAll
    static void shortClips() throws Exception {
        Path rendered = work.resolve("rendered"), pieces = work.resolve("pieces");
        Files.createDirectories(pieces);
        int n = 0;
        for (DemoCorpus.ClipInfo clip : DemoCorpus.generate(rendered, 2, 5)) {
            float[] x = WavFile.readMono(clip.file()).samples();
            int at = 0;
            while (n < 24) {
                double seconds = PIECE_SECONDS[n % PIECE_SECONDS.length];
                int len = (int) Math.round(seconds * DemoCorpus.SAMPLE_RATE);
                if (at + len > x.length) break;
                if (seconds < 1 / 3.0) tooShort++;
                WavFile.writeMono(pieces.resolve(String.format("piece%02d.wav", n++)), java.util.Arrays.copyOfRange(x, at, at + len),
                        DemoCorpus.SAMPLE_RATE, WavFile.Encoding.FLOAT_32);
                at += len;
            }
        }
        Path audio = work.resolve("audio-24k"), manifest = work.resolve("manifest"), labels = work.resolve("labels");
        ManifestBuilder.Result m = ManifestBuilder.build(ManifestBuilder.Options.defaults(pieces, audio, manifest)
                .withValidFraction(0).withMinSeconds(0.1));
        KMeansTeacher.run(KMeansTeacher.Options.defaults(manifest, labels).withK(8).withSeed(5));
        data = new DemoPipeline.Prepared(pieces, audio, manifest, labels, 8, m.train().size());
    }

    private static TrainConfig config(Path run, int workers, int steps, int saveEvery) {
        return SessionFactories.withLabelClasses(TrainConfig.from(DemoPipeline.config(data, run, workers, steps, 16000)
                .withOverrides(List.of("dataset.global_batch_size=null", "dataset.max_tokens=64000", "task.min_sample_size=8000",
                        "dataset.disable_validation=true", "checkpoint.save_interval_updates=" + saveEvery))));
    }

    @Test
    void stepsVaryInClipsAndCropAndOneOrTwoWorkersTrainTheSameModel() throws Exception {
        Path single = work.resolve("single"), pair = work.resolve("pair");
        TrainConfig c1 = config(single, 1, STEPS, 1000), c2 = config(pair, 2, STEPS, 1000);
        ShardPlan plan = RunSetup.plan(c1);
        assertTrue(tooShort > 0);
        assertEquals(data.trainClips() - tooShort, plan.datasetSize(), "the 0.2 s pieces are shorter than task.min_sample_size");
        Set<Integer> clips = new HashSet<>(), crops = new HashSet<>();
        for (long s = 0; s < plan.stepsPerEpoch(); s++) {
            clips.add(plan.batchSize(s));
            crops.add(plan.cropSamples(s));
            assertTrue((long) plan.batchSize(s) * plan.cropSamples(s) <= 64000);
        }
        System.out.printf("max_tokens 64000 over %d clips: %d steps per epoch, clips per step %s, crops %s%n",
                plan.datasetSize(), plan.stepsPerEpoch(), clips, crops);
        assertTrue(clips.size() >= 2 && crops.size() >= 3, "batches differ in clips " + clips + " and crop " + crops);
        assertTrue(STEPS > plan.stepsPerEpoch(), "the runs cross an epoch boundary");

        RunSetup.startNewRun(single, c1);
        assertTrue(LocalCluster.run(CoordinatorSettings.fresh(c1, single, RunSetup.plan(c1)), 1, RunListener.NONE,
                Duration.ofMinutes(10)).success());
        RunSetup.startNewRun(pair, c2);
        assertTrue(LocalCluster.run(CoordinatorSettings.fresh(c2, pair, RunSetup.plan(c2)), 2, RunListener.NONE,
                Duration.ofMinutes(10)).success());

        List<String> a = Files.readAllLines(single.resolve("metrics.jsonl")), b = Files.readAllLines(pair.resolve("metrics.jsonl"));
        assertEquals(STEPS, a.size());
        assertEquals(STEPS, b.size());
        for (int i = 0; i < STEPS; i++) {
            assertEquals(field(a.get(i), "sample_digest"), field(b.get(i), "sample_digest"), "step " + (i + 1) + " trains the same draws");
            assertEquals(field(a.get(i), "supervised_frames"), field(b.get(i), "supervised_frames"));
        }
        double relative = relativeDifference(single, pair, STEPS);
        System.out.printf("max_tokens trajectory after %d steps, 1 vs 2 workers: relative L2 parameter difference %.3g%n", STEPS, relative);
        assertTrue(relative <= 1e-5, "relative L2 parameter difference " + relative); // only the allreduce's summation order differs
    }

    @Test
    void aRunStoppedAtItsCheckpointAndResumedEndsWhereAStraightRunEnds() throws Exception {
        int half = 4;
        Path straight = work.resolve("straight"), interrupted = work.resolve("interrupted");
        TrainConfig cs = config(straight, 2, 2 * half, half), ci = config(interrupted, 2, 2 * half, half);
        RunSetup.startNewRun(straight, cs);
        assertTrue(LocalCluster.run(CoordinatorSettings.fresh(cs, straight, RunSetup.plan(cs)), 2, RunListener.NONE,
                Duration.ofMinutes(10)).success());

        RunSetup.startNewRun(interrupted, ci);
        LocalCluster[] cluster = new LocalCluster[1];
        RunListener stopAtCheckpoint = new RunListener() {
            @Override
            public void onEvent(String event, com.fasterxml.jackson.databind.node.ObjectNode d) {
                if (event.equals("checkpoint_saved")) cluster[0].stop("test: stop after the first checkpoint");
            }
        };
        synchronized (cluster) {
            cluster[0] = LocalCluster.start(CoordinatorSettings.fresh(ci, interrupted, RunSetup.plan(ci)), 2, stopAtCheckpoint);
        }
        assertFalse(cluster[0].await(Duration.ofMinutes(10)).success(), "the first leg must have been stopped");
        cluster[0].close();
        CoordinatorSettings resumed = ResumeCommand.settingsFor(interrupted);
        assertEquals(half, resumed.startStep());
        assertTrue(LocalCluster.run(resumed, 2, RunListener.NONE, Duration.ofMinutes(10)).success());
        for (String file : List.of("model.safetensors", "optimizer.safetensors")) {
            assertArrayEquals(Files.readAllBytes(straight.resolve("checkpoints/step-" + String.format("%09d", 2 * half)).resolve(file)),
                    Files.readAllBytes(interrupted.resolve("checkpoints/step-" + String.format("%09d", 2 * half)).resolve(file)),
                    file + " differs between the straight and the resumed run");
        }
    }

    private static double relativeDifference(Path x, Path y, int step) throws Exception {
        String dir = "checkpoints/step-" + String.format("%09d", step) + "/model.safetensors";
        Map<String, FloatTensor> a = SafeTensors.readAll(x.resolve(dir)), b = SafeTensors.readAll(y.resolve(dir));
        assertEquals(a.keySet(), b.keySet());
        double diff2 = 0, norm2 = 0;
        for (String k : a.keySet()) {
            float[] p = a.get(k).data(), q = b.get(k).data();
            for (int i = 0; i < p.length; i++) {
                diff2 += ((double) p[i] - q[i]) * ((double) p[i] - q[i]);
                norm2 += (double) p[i] * p[i];
            }
        }
        return Math.sqrt(diff2 / norm2);
    }

    private static String field(String json, String key) throws Exception {
        return new ObjectMapper().readTree(json).get(key).asText();
    }
}
