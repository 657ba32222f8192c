package io.mert.model.encodec;

import io.mert.model.checkpoint.FloatTensor;
import io.mert.model.checkpoint.SafeTensors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Our EnCodec encoder against Meta's {@code encodec} package (the code MERT labels with), on a
 * reduced-width model of the same architecture with seeded random weights, written in HuggingFace's
 * {@code facebook/encodec_24khz} key layout by {@code tools/reference/make_encodec_fixtures.py}
 * (reference/encodec/). Cases: 3 s of chord+chirp audio, a 1.5 s sine sweep, a 250-sample clip.
 *
 * <p>Bars: codes equal for at least 99.9% of tokens (the bar; float32 summation order can
 * flip a frame whose two nearest codewords are almost equally near), and the continuous embedding
 * within 1e-5 of the reference's largest magnitude. Both run whole and in pieces of 7 or 100 frames,
 * which puts seams (context recomputation, LSTM state, last-conv history) through the signal, and
 * with every product in plain Java, every product through BLAS, and the default split.
 */
class EncodecReferenceTest {
    static final double MIN_AGREEMENT = 0.999;
    static final double EMB_TOLERANCE = 1e-5;

    private static EncodecEncoder encoder;
    private static Map<String, FloatTensor> cases;

    @BeforeAll
    static void load() throws IOException {
        encoder = EncodecWeights.load(fixture("model.safetensors"));
        cases = SafeTensors.readAll(fixture("cases.safetensors"));
    }

    static Path fixture(String name) {
        URL url = EncodecReferenceTest.class.getResource("/reference/encodec/" + name);
        if (url == null) throw new IllegalStateException("test resource reference/encodec/" + name + " is missing");
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    @ParameterizedTest(name = "{0}, pieces of {1} frames, {2}")
    @CsvSource({"music,375,default", "music,7,java", "music,100,blas", "sweep,375,default", "sweep,7,blas", "short,375,default"})
    void codesAndEmbeddingMatchTheEncodecPackage(String name, int chunkFrames, String products) {
        EncodecEncoder enc = encoder.withChunkFrames(chunkFrames);
        if (products.equals("java")) enc = enc.withBlasMinWeights(Integer.MAX_VALUE);
        if (products.equals("blas")) enc = enc.withBlasMinWeights(0);
        float[] wave = cases.get(name + ".wave").data();
        FloatTensor refEmb = cases.get(name + ".emb");
        FloatTensor refCodes = cases.get(name + ".codes");
        int frames = (int) refCodes.shape()[1];
        assertEquals(frames, enc.frames(wave.length), "frame count ceil(samples / 320)");
        assertEquals(16, enc.dimension());
        assertEquals(1024, enc.codebookSize());
        assertEquals(9, enc.availableCodebooks());

        float[] emb = enc.embed(wave);
        assertEquals(refEmb.data().length, emb.length);
        double maxRef = 0, maxDiff = 0;
        for (int k = 0; k < emb.length; k++) {
            maxRef = Math.max(maxRef, Math.abs(refEmb.data()[k]));
            maxDiff = Math.max(maxDiff, Math.abs(emb[k] - refEmb.data()[k]));
        }
        assertTrue(maxRef > 0.1, "reference embedding is not degenerate");
        assertTrue(maxDiff <= EMB_TOLERANCE * maxRef,
                name + ": embedding differs by " + maxDiff + " (largest magnitude " + maxRef + ")");

        int[][] codes = enc.codes(wave, 8);
        int same = 0;
        for (int q = 0; q < 8; q++) {
            assertEquals(frames, codes[q].length);
            for (int t = 0; t < frames; t++) if (codes[q][t] == (int) refCodes.data()[q * frames + t]) same++;
        }
        double agreement = same / (8.0 * frames);
        System.out.printf("EnCodec %s (pieces of %d frames, %s products): %d/%d tokens agree (%.4f%%), embedding max |diff| %.3g of max %.3g%n",
                name, chunkFrames, products, same, 8 * frames, 100 * agreement, maxDiff, maxRef);
        assertTrue(agreement >= MIN_AGREEMENT, name + ": only " + same + " of " + 8 * frames + " tokens agree");
    }
}
