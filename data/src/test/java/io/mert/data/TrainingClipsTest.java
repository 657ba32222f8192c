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

    @Test
    void variableCropsAreLimitedByAudioLabelsAndTheLongestCropAndShortClipsAreSkipped() throws IOException {
        int[] lengths = {120000, 30000, 60000, 200000, 60000};
        int[] counts = new int[lengths.length];
        for (int i = 0; i < lengths.length; i++) counts[i] = config.framesFor(lengths[i]);
        counts[4] -= 4; // labels 4 frames short of the audio (within fairseq's 0.1 s): the longest crop shrinks
        Manifest m = corpus(lengths, counts);
        List<Path> labels = List.of(dir.resolve("train.km"), dir.resolve("train.km2"));
        TrainingClips clips = TrainingClips.variable(m, labels, null, 40000, 96000, config::framesFor, 320, 24000, 1L << 30);
        assertEquals(4, clips.size());
        assertEquals(1, clips.skipped().size());
        assertEquals("f1.wav", clips.skipped().get(0).path());
        assertTrue(clips.skipped().get(0).reason().contains("task.min_sample_size"), clips.skipped().get(0).reason());
        assertEquals(96000, clips.sizeOf(0), "capped at the longest crop");
        assertEquals(60000, clips.sizeOf(1), "a clip shorter than the longest crop gives itself whole");
        assertEquals(96000, clips.sizeOf(2));
        assertEquals(200000, clips.lengthOf(2));
        int limited = clips.sizeOf(3);
        assertTrue(config.framesFor(limited) <= counts[4] && config.framesFor(limited + 1) > counts[4] && limited < 60000,
                "the longest crop whose frames all have labels: " + limited);

        for (int crop : new int[] {40000, 52345, 60000}) {
            for (long seed = 0; seed < 10; seed++) {
                TrainingClips.Clip c = clips.clip(1, seed, crop);
                int frames = config.framesFor(crop), f0 = c.startSample() / 320;
                assertEquals(crop, c.waveform().length);
                assertEquals(frames, c.labels()[0].length);
                assertTrue(c.startSample() + crop <= 60000);
                assertEquals(0, c.startSample() % 320);
                for (int i = 0; i < crop; i += 997) assertEquals(((c.startSample() + i) % 4096) / 4096f, c.waveform()[i], 0f);
                for (int j = 0; j < frames; j++) assertEquals(7 * (f0 + j) + 2, c.labels()[1][j]);
                assertEquals(c.startSample(), clips.clip(1, seed, crop).startSample(), "seeded");
            }
        }
        TrainingClips.Clip whole = clips.clip(3, 5, limited);
        assertEquals(whole.startSample() / 320 + config.framesFor(limited) - 1, whole.labels()[0][config.framesFor(limited) - 1]);
        assertThrows(IllegalArgumentException.class, () -> clips.clip(1, 0, 60001), "longer than the clip gives");
        assertThrows(IllegalArgumentException.class, () -> clips.clip(0, 0, 39999), "shorter than the shortest crop");
    }
}
