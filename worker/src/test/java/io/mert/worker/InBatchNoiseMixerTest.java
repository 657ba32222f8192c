package io.mert.worker;

import io.mert.model.config.MixupConfig;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The mixer against MERT's definition: every clip of the batch encodes (clip, sample) in its values, so
 * the added signal can be decoded back to where in the pool it came from.
 */
class InBatchNoiseMixerTest {

    private static final int SAMPLES = 1000, BATCH = 5;

    private static float[] crop(int clip) {
        float[] w = new float[SAMPLES];
        for (int t = 0; t < SAMPLES; t++) w[t] = clip * 10_000 + t + 1; // exact in float
        return w;
    }

    @Test
    void aMixedClipGetsOneSegmentOfAnotherClipAtTheDrawnLength() {
        MixupConfig one = new MixupConfig(0.5, 100, 300, 1, 1, 2.0);
        InBatchNoiseMixer mixer = new InBatchNoiseMixer(one, 7, SAMPLES);
        int mixed = 0, trials = 400;
        for (long serial = 0; serial < trials; serial++) {
            int self = (int) (serial % BATCH);
            float[] wave = crop(self);
            boolean did = mixer.mix(wave, 0, serial, self, BATCH, InBatchNoiseMixerTest::crop);
            float[] clean = crop(self);
            int first = -1, last = -1;
            for (int t = 0; t < SAMPLES; t++) {
                if (wave[t] != clean[t]) {
                    if (first < 0) first = t;
                    last = t;
                }
            }
            if (!did) {
                assertEquals(-1, first, "an unmixed clip is untouched");
                continue;
            }
            mixed++;
            int length = last - first + 1;
            assertTrue(length >= 100 && length <= 300, "segment length " + length);
            // decode the segment: volume * (clip * 10000 + offset + 1), consecutive offsets, never the clip itself
            float v0 = (wave[first] - clean[first]) / 2.0f;
            int source = (int) ((v0 - 1) / 10_000), offset = (int) (v0 - 1) % 10_000;
            assertNotEquals(self, source, "the pool excludes the clip itself");
            for (int t = first; t <= last; t++) {
                int pos = offset + (t - first);
                // a segment may run on into the next clip of the pool
                int src = source, off = pos;
                if (pos >= SAMPLES) {
                    src = source + 1 == self ? source + 2 : source + 1;
                    off = pos - SAMPLES;
                }
                assertEquals(2.0f * (src * 10_000 + off + 1), wave[t] - clean[t], 1e-3f, "sample " + t + " of serial " + serial);
            }
        }
        // P(u > 0.5) = 0.5: 400 draws, standard deviation 10
        assertEquals(trials / 2.0, mixed, 50, "clips mixed");
    }

    @Test
    void theSameDrawMixesTheSameWayAndTooShortPoolsStayClean() {
        MixupConfig cfg = new MixupConfig(0.0001, 100, 300, 1, 3, 1.0); // almost always mixes
        InBatchNoiseMixer mixer = new InBatchNoiseMixer(cfg, 3, SAMPLES);
        float[] a = crop(0), b = crop(0);
        assertTrue(mixer.mix(a, 0, 77, 0, BATCH, InBatchNoiseMixerTest::crop));
        assertTrue(mixer.mix(b, 0, 77, 0, BATCH, InBatchNoiseMixerTest::crop));
        assertArrayEquals(a, b);
        float[] alone = crop(0);
        assertFalse(mixer.mix(alone, 0, 77, 0, 1, InBatchNoiseMixerTest::crop), "a batch of one has no pool");
        assertArrayEquals(crop(0), alone);
        InBatchNoiseMixer longSegments = new InBatchNoiseMixer(new MixupConfig(0.0001, 2000, 3000, 1, 3, 1.0), 3, SAMPLES);
        float[] c = crop(1);
        assertFalse(longSegments.mix(c, 0, 5, 1, BATCH, InBatchNoiseMixerTest::crop), "segments longer than the clip: clean, as MERT");
        assertArrayEquals(crop(1), c);
        assertFalse(new InBatchNoiseMixer(MixupConfig.OFF, 3, SAMPLES).mix(c, 0, 5, 1, BATCH, InBatchNoiseMixerTest::crop));
    }
}
