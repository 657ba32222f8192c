package io.mert.data;

import io.mert.model.MertConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Unreadable audio found at crop time is replaced by the next readable clip, the same way every time. */
class ReadableClipsTest {
    @TempDir
    Path dir;

    private TrainingClips clips(int files) throws Exception {
        MertConfig config = MertConfig.tiny();
        List<Manifest.Entry> entries = new ArrayList<>();
        List<int[]> labels = new ArrayList<>();
        int n = 24000;
        for (int f = 0; f < files; f++) {
            float[] x = new float[n];
            for (int i = 0; i < n; i++) x[i] = (float) Math.sin(0.01 * (f + 1) * i);
            WavFile.writeMono(dir.resolve("f" + f + ".wav"), x, 24000, WavFile.Encoding.PCM_16);
            entries.add(new Manifest.Entry("f" + f + ".wav", n));
            labels.add(new int[config.framesFor(n)]);
        }
        LabelFile.write(dir.resolve("train.km"), labels);
        // no cache: every crop reads the file, as a manifest too large for memory does
        return new TrainingClips(new Manifest(dir, entries), List.of(dir.resolve("train.km")), 8000, config.framesFor(8000),
                320, 24000, 0);
    }

    private void damage(String name) throws Exception {
        try (RandomAccessFile f = new RandomAccessFile(dir.resolve(name).toFile(), "rw")) {
            f.setLength(f.length() / 2);
        }
    }

    @Test
    void aDamagedClipIsReplacedByTheNextReadableOneAndRemembered() throws Exception {
        TrainingClips clips = clips(4);
        ReadableClips readable = new ReadableClips(clips);
        assertEquals(1, readable.clip(1, 7).clip().index());
        damage("f1.wav");
        damage("f2.wav");
        assertThrows(UnreadableAudioException.class, () -> clips.clip(1, 7), "TrainingClips itself reports it");
        ReadableClips.Drawn d = readable.clip(1, 7);
        assertEquals(3, d.clip().index(), "f1 and f2 are skipped");
        assertEquals(List.of(1, 2), d.skipped().stream().map(ReadableClips.Unreadable::index).toList());
        assertEquals("f1.wav", d.skipped().get(0).path());
        assertTrue(d.skipped().get(0).reason().contains("f1.wav"), d.skipped().get(0).reason());
        // the draw's own crop seed: the replacement is cropped as a draw of index 3 with seed 7 would be
        assertArrayEquals(clips.clip(3, 7).waveform(), d.clip().waveform());
        assertEquals(2, readable.unreadable().size());

        // a second reader that meets the files in another order makes the same choices
        ReadableClips other = new ReadableClips(clips);
        assertEquals(3, other.clip(2, 7).clip().index());
        ReadableClips.Drawn again = other.clip(1, 7);
        assertEquals(3, again.clip().index());
        assertEquals(d.skipped(), again.skipped(), "remembered skips are reported like fresh ones");

        damage("f3.wav");
        assertEquals(0, readable.clip(3, 7).clip().index(), "wraps around the manifest");
        damage("f0.wav");
        UnreadableAudioException none = assertThrows(UnreadableAudioException.class, () -> readable.clip(2, 7));
        assertTrue(none.getMessage().contains("none of the 4"), none.getMessage());
        assertTrue(Files.exists(dir.resolve("f0.wav")));
    }

    @Test
    void withVariableCropsAReplacementMustBeLongEnoughForTheStepsCrop() throws Exception {
        MertConfig config = MertConfig.tiny();
        int[] lengths = {12000, 9000, 16000};
        List<Manifest.Entry> entries = new ArrayList<>();
        List<int[]> labels = new ArrayList<>();
        for (int f = 0; f < lengths.length; f++) {
            float[] x = new float[lengths[f]];
            for (int i = 0; i < x.length; i++) x[i] = (float) Math.sin(0.01 * (f + 1) * i);
            WavFile.writeMono(dir.resolve("v" + f + ".wav"), x, 24000, WavFile.Encoding.PCM_16);
            entries.add(new Manifest.Entry("v" + f + ".wav", lengths[f]));
            labels.add(new int[config.framesFor(lengths[f])]);
        }
        LabelFile.write(dir.resolve("train.km"), labels);
        TrainingClips clips = TrainingClips.variable(new Manifest(dir, entries), List.of(dir.resolve("train.km")), null, 8000,
                16000, config::framesFor, 320, 24000, 0);
        ReadableClips readable = new ReadableClips(clips);
        damage("v0.wav");
        ReadableClips.Drawn d = readable.clip(0, 3, 10000);
        assertEquals(2, d.clip().index(), "v1 (9000 samples) cannot give a crop of 10000: passed over, not reported");
        assertEquals(List.of(0), d.skipped().stream().map(ReadableClips.Unreadable::index).toList());
        assertEquals(10000, d.clip().waveform().length);
        assertEquals(1, readable.clip(0, 3, 9000).clip().index(), "a 9000-sample crop fits v1");
    }
}
