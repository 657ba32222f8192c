package io.mert.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.mert.model.checkpoint.Npy;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@link KMeans#fitFrom} against scikit-learn 1.2's Lloyd k-means from the same initial centroids
 * (tools/reference/make_audio_fixtures.py: 300 points in 5-D from 6 overlapping blobs, a poor start
 * that needs 7 iterations).
 */
class KMeansSklearnReferenceTest {
    @Test
    void sameLabelsCentroidsInertiaAndIterations() throws Exception {
        float[] data = npy("data.npy");
        float[] init = npy("init.npy");
        float[] want = npy("centroids.npy");
        float[] labels = npy("labels.npy");
        JsonNode result = new ObjectMapper().readTree(path("result.json").toFile());
        float[] initCopy = init.clone();

        KMeans.Model m = KMeans.fitFrom(data, 5, init, 300);
        assertArrayEquals(initCopy, init, "the initial centroids must not be modified");
        assertEquals(6, m.k());
        int[] got = m.assignAll(data);
        for (int i = 0; i < got.length; i++) assertEquals((int) labels[i], got[i], "label of point " + i);
        double scale = 0;
        for (float v : want) scale = Math.max(scale, Math.abs(v));
        for (int i = 0; i < want.length; i++)
            assertEquals(want[i], m.centroids()[i], 1e-4 * Math.max(Math.abs(want[i]), 1e-3 * scale), "centroid value " + i);
        assertEquals(result.get("inertia").asDouble(), m.inertia(), 1e-5 * result.get("inertia").asDouble());
        assertEquals(result.get("n_iter").asInt(), m.iterations());
    }

    @Test
    void rejectsInitOfTheWrongShape() {
        float[] data = new float[20];
        assertThrows(IllegalArgumentException.class, () -> KMeans.fitFrom(data, 5, new float[7], 10));
        assertThrows(IllegalArgumentException.class, () -> KMeans.fitFrom(data, 5, new float[25], 10));
        assertThrows(IllegalArgumentException.class, () -> KMeans.fitFrom(data, 5, new float[5], 0));
    }

    private static float[] npy(String name) throws IOException, URISyntaxException {
        return Npy.read(path(name)).data();
    }

    private static Path path(String name) throws URISyntaxException {
        return Path.of(KMeansSklearnReferenceTest.class.getResource("/kmeans/" + name).toURI());
    }
}
