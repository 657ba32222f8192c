package io.mert.data;

import io.mert.model.MertConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class TrainingClipsTest {
    @TempDir
    Path dir;
    private final MertConfig config = MertConfig.tiny();

    /** A file whose sample i is exactly representable and identifies i; labels (a, b) per frame. */
    private Manifest corpus(int[] lengths, int[] labelCounts) throws IOException {
        List<Manifest.Entry> entries = new ArrayList<>();
        List<int[]> a = new ArrayList<>(), b = new ArrayList<>();
        for (int f = 0; f < lengths.length; f++) {
            float[] x = new float[lengths[f]];
            for (int i = 0; i < x.length; i++) x[i] = (i % 4096) / 4096f;
            String name = "f" + f + ".wav";
            WavFile.writeMono(dir.resolve(name), x, 24000, WavFile.Encoding.FLOAT_32);
            entries.add(new Manifest.Entry(name, lengths[f]));
            int[] la = new int[labelCounts[f]], lb = new int[labelCounts[f]];
            for (int t = 0; t < la.length; t++) { la[t] = t; lb[t] = 7 * t + f; }
            a.add(la);
            b.add(lb);
        }
        LabelFile.write(dir.resolve("train.km"), a);
        LabelFile.write(dir.resolve("train.km2"), b);
        return new Manifest(dir, entries);
    }

    @Test
    void cropsAreFrameAlignedSeededAndShortFilesAreSkipped() throws IOException {
        int[] lengths = {120000, 50000, 96000};
        int[] counts = new int[3];
        for (int i = 0; i < 3; i++) counts[i] = config.framesFor(lengths[i]);
        Manifest m = corpus(lengths, counts);
        int crop = 72000, frames = config.framesFor(crop);
        TrainingClips clips = new TrainingClips(m, List.of(dir.resolve("train.km"), dir.resolve("train.km2")), crop, frames);
        assertEquals(2, clips.size());
        assertEquals(1, clips.skipped().size());
        assertEquals("f1.wav", clips.skipped().get(0).path());
        assertEquals(0, clips.entryIndex(0));
        assertEquals(2, clips.entryIndex(1));

        Set<Integer> starts = new HashSet<>();
        for (long seed = 0; seed < 40; seed++) {
            for (int idx = 0; idx < 2; idx++) {
                TrainingClips.Clip c = clips.clip(idx, seed);
                int entry = clips.entryIndex(idx);
                assertEquals(0, c.startSample() % 320);
                assertTrue(c.startSample() + crop <= lengths[entry]);
                assertEquals(crop, c.waveform().length);
                for (int i = 0; i < crop; i += 997)
                    assertEquals(((c.startSample() + i) % 4096) / 4096f, c.waveform()[i], 0f);
                int f0 = c.startSample() / 320;
                assertEquals(frames, c.labels()[0].length);
                for (int j = 0; j < frames; j++) {
                    assertEquals(f0 + j, c.labels()[0][j]);
                    assertEquals(7 * (f0 + j) + entry, c.labels()[1][j]);
                }
                TrainingClips.Clip same = clips.clip(idx, seed);
                assertEquals(c.startSample(), same.startSample());
                if (idx == 0) starts.add(c.startSample());
            }
        }
        assertTrue(starts.size() > 10, "crops should vary with the seed: " + starts);
        assertThrows(IndexOutOfBoundsException.class, () -> clips.clip(2, 0));
    }

    @Test
    void rejectsLabelsThatDoNotMatchTheAudio() throws IOException {
        int[] lengths = {96000, 96000};
        Manifest m = corpus(lengths, new int[] {config.framesFor(96000), config.framesFor(96000) - 10});
        IOException e = assertThrows(IOException.class,
                () -> new TrainingClips(m, List.of(dir.resolve("train.km")), 72000, config.framesFor(72000)));
        assertTrue(e.getMessage().contains("f1.wav") && e.getMessage().contains("line 2"), e.getMessage());

        Manifest shorter = new Manifest(dir, m.entries().subList(0, 1));
        IOException lines = assertThrows(IOException.class,
                () -> new TrainingClips(shorter, List.of(dir.resolve("train.km")), 72000, config.framesFor(72000)));
        assertTrue(lines.getMessage().contains("2 label lines but the manifest has 1"), lines.getMessage());
    }

    @Test
    void labelsWithinToleranceButShortOfTheCropLimitTheStart() throws IOException {
        // 4 frames (0.053 s) fewer labels than model frames: accepted, but crops never run past the labels
        Manifest m = corpus(new int[] {76800}, new int[] {config.framesFor(76800) - 4});
        int frames = config.framesFor(72000);
        TrainingClips clips = new TrainingClips(m, List.of(dir.resolve("train.km")), 72000, frames);
        for (long s = 0; s < 50; s++) {
            TrainingClips.Clip c = clips.clip(0, s);
            assertEquals(c.startSample() / 320 + frames - 1, c.labels()[0][frames - 1]);
        }
    }
}
