package io.mert.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.mert.model.checkpoint.Npy;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@link MiniBatchKMeans} against scikit-learn 1.2 on the same features
 * (tools/reference/make_minibatch_kmeans_fixture.py: HuBERT's 39-dim MFCC + deltas of 20 s of synthetic
 * music, 1998 frames; k = 20, batch 256, 3 seedings, HuBERT's learn_kmeans.py settings otherwise).
 *
 * <p>On these features one mini-batch run, sklearn's or ours, lands several percent above sklearn's
 * {@code KMeans} (n_init=10) and varies by several percent with the seed (sklearn: 5.6% above on average
 * over 40 seeds, 0.7% to 11.2%). So the 1% bound is asserted for the best of the 40 seeds, and the
 * single-run quality is asserted as the same mean as sklearn's MiniBatchKMeans over 40 seeds, within 2%
 * (the standard error of the difference of the two means is about 0.8%).
 */
class MiniBatchKMeansSklearnReferenceTest {
    private static final int SEEDS = 40;
    private static JsonNode ref;
    private static double[] ours;

    @BeforeAll
    static void fitForEverySeed() throws Exception {
        Path dir = Path.of(MiniBatchKMeansSklearnReferenceTest.class.getResource("/kmeans/minibatch/features.npy").toURI()).getParent();
        float[] x = Npy.read(dir.resolve("features.npy")).data();
        ref = new ObjectMapper().readTree(dir.resolve("result.json").toFile());
        assertEquals(ref.get("frames").asInt() * ref.get("dim").asInt(), x.length);
        ours = new double[SEEDS];
        for (int seed = 0; seed < SEEDS; seed++) {
            ours[seed] = MiniBatchKMeans.fit(x, ref.get("dim").asInt(), options(seed)).inertia();
        }
    }

    static MiniBatchKMeans.Options options(long seed) {
        return new MiniBatchKMeans.Options(ref.get("k").asInt(), ref.get("batch_size").asInt(), ref.get("max_iter").asInt(),
                100, ref.get("n_init").asInt(), 0, seed);
    }

    @Test
    void bestOfTheSeedsIsWithinOnePercentOfSklearnKMeans() {
        double kmeans = ref.get("kmeans_inertia").asDouble();
        double best = Arrays.stream(ours).min().orElseThrow();
        assertTrue(best <= 1.01 * kmeans, "best mini-batch inertia " + best + " vs sklearn KMeans " + kmeans);
    }

    @Test
    void meanInertiaMatchesSklearnMiniBatchKMeans() {
        double mean = Arrays.stream(ours).average().orElseThrow();
        double sklearn = ref.get("minibatch_inertia_mean").asDouble();
        assertEquals(sklearn, mean, 0.02 * sklearn, "mean inertia over " + SEEDS + " seeds");
        double kmeans = ref.get("kmeans_inertia").asDouble();
        for (double v : ours) assertTrue(v >= kmeans * 0.98, "inertia " + v + " far below sklearn KMeans's " + kmeans + ": not measured right");
    }
}
