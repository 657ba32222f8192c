package io.mert.model.features;

import io.mert.model.checkpoint.FloatTensor;
import io.mert.model.checkpoint.Npy;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Our CQT against nnAudio's own {@code features.cqt.CQT} (CQT1992v2) built with MERT's exact arguments
 * (sr 24000, hop 320, fmin 32.7, 336 bins, 48 per octave, filter_scale 1, norm 1, Hann, center, constant
 * padding, Magnitude), run in float32 as MERT runs it; fixtures from tools/reference/make_cqt_fixtures.py.
 *
 * <p>Two norms, both must be below {@value #TOLERANCE}: the largest absolute error over the whole
 * spectrogram divided by its largest magnitude, and the largest per-bin relative error over the bins whose
 * reference magnitude is at least {@value #FLOOR} of the clip's maximum (a 60 dB range). The per-bin error
 * relative to each frame's own maximum is logged too; it is not asserted, as it is dominated by frames
 * where the sweep is above the top bin and every bin is 70 dB down. Inputs: a 30 Hz - 11 kHz sweep with
 * noise, and 1.5 s of an orchestral piece (reference/cqt/README.md).
 */
class CqtNnAudioReferenceTest {
    private static final Logger LOG = LoggerFactory.getLogger(CqtNnAudioReferenceTest.class);
    static final double TOLERANCE = 1e-3;
    static final double FLOOR = 1e-3;

    @ParameterizedTest
    @ValueSource(strings = {"sweep", "music"})
    void matchesNnAudio(String name) throws Exception {
        float[] wave = Npy.read(resource(name + "_wave.npy")).data();
        Cqt cqt = Cqt.mert();
        float[] ours = cqt.magnitude(wave);
        // nnAudio as MERT runs it (float32), and the same module in float64 (without its float32 round-off)
        for (String ref : new String[] {name + "_cqt.npy", name + "_cqt64.npy"}) compare(ref, ours, cqt.frames(wave.length));
    }

    private static void compare(String file, float[] ours, int frames) throws Exception {
        FloatTensor ref = Npy.read(resource(file));
        assertArrayEquals(new long[] {frames, 336}, ref.shape(), file + ": nnAudio's [frames, bins]");
        assertEquals(ref.data().length, ours.length);
        float[] r = ref.data();
        double max = 0, maxAbsErr = 0;
        for (int i = 0; i < r.length; i++) {
            max = Math.max(max, r[i]);
            maxAbsErr = Math.max(maxAbsErr, Math.abs((double) ours[i] - r[i]));
        }
        double absOverMax = maxAbsErr / max;
        Worst atFloor = worstRelative(ours, r, frames, max, FLOOR);
        Worst frameFloor = worstRelativeToFrame(ours, r, frames, 1e-2);
        LOG.info("{}: {} frames x 336 bins: max |ours - nnAudio| / max magnitude {}; per-bin relative error on bins "
                        + ">= {} x the clip's max: {}; on bins >= 1% of their frame's max: {}", file, frames,
                String.format(Locale.ROOT, "%.2e", absOverMax), FLOOR, atFloor, frameFloor);
        assertTrue(max > 0.1, file + ": the fixture has signal");
        assertTrue(atFloor.checked > frames * 50, file + ": only " + atFloor.checked + " bins above the floor");
        assertTrue(absOverMax < TOLERANCE, file + ": max |ours - nnAudio| / max = " + absOverMax);
        assertTrue(atFloor.rel < TOLERANCE, file + ": " + atFloor + ": ours " + ours[atFloor.frame * 336 + atFloor.bin]
                + " nnAudio " + r[atFloor.frame * 336 + atFloor.bin]);
    }

    record Worst(double rel, int frame, int bin, int checked) {
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "at most %.2e (frame %d, bin %d; %d bins)", rel, frame, bin, checked);
        }
    }

    private static Worst worstRelative(float[] ours, float[] ref, int frames, double clipMax, double floor) {
        double worst = 0;
        int wf = -1, wb = -1, checked = 0;
        for (int t = 0; t < frames; t++) {
            for (int k = 0; k < 336; k++) {
                int i = t * 336 + k;
                if (ref[i] < floor * clipMax) continue;
                checked++;
                double rel = Math.abs((double) ours[i] - ref[i]) / ref[i];
                if (rel > worst) { worst = rel; wf = t; wb = k; }
            }
        }
        return new Worst(worst, wf, wb, checked);
    }

    /** For the record only: the same with the floor relative to each frame's maximum (strict on quiet frames). */
    private static Worst worstRelativeToFrame(float[] ours, float[] ref, int frames, double floor) {
        double worst = 0;
        int wf = -1, wb = -1, checked = 0;
        for (int t = 0; t < frames; t++) {
            double frameMax = 0;
            for (int k = 0; k < 336; k++) frameMax = Math.max(frameMax, ref[t * 336 + k]);
            for (int k = 0; k < 336; k++) {
                int i = t * 336 + k;
                if (frameMax == 0 || ref[i] < floor * frameMax) continue;
                checked++;
                double rel = Math.abs((double) ours[i] - ref[i]) / ref[i];
                if (rel > worst) { worst = rel; wf = t; wb = k; }
            }
        }
        return new Worst(worst, wf, wb, checked);
    }

    private static Path resource(String name) throws Exception {
        var url = CqtNnAudioReferenceTest.class.getResource("/reference/cqt/" + name);
        assertTrue(url != null, "missing fixture reference/cqt/" + name + " (tools/reference/make_cqt_fixtures.py)");
        return Path.of(url.toURI());
    }
}
