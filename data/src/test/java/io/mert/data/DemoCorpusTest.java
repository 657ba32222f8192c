package io.mert.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class DemoCorpusTest {
    @TempDir
    Path dir;

    @Test
    void rendersAudibleClipsOfTheDeclaredLengths() throws IOException {
        List<DemoCorpus.ClipInfo> clips = DemoCorpus.generate(dir, 4, 42);
        assertEquals(4, clips.size());
        boolean anyDrums = false;
        for (DemoCorpus.ClipInfo c : clips) {
            WavFile.Info info = WavFile.info(c.file());
            assertEquals(22050, info.sampleRate());
            assertEquals(1, info.channels());
            assertEquals(Math.round(c.seconds() * 22050), info.frames());
            assertTrue(c.seconds() >= 5 && c.seconds() <= 20, "length " + c.seconds());
            float[] x = WavFile.readMono(c.file()).samples();
            // RMS over each second: music throughout, not a silent tail
            for (int s = 0; s + 22050 <= x.length; s += 22050) {
                double e = 0;
                for (int i = s; i < s + 22050; i++) e += x[i] * (double) x[i];
                double rms = Math.sqrt(e / 22050);
                assertTrue(rms > 0.01, c.file() + " second " + s / 22050 + " rms " + rms);
            }
            anyDrums |= c.drums();
        }
        // Same seed, same pieces (tempo, key, length); different seed, different pieces.
        List<DemoCorpus.ClipInfo> again = DemoCorpus.generate(dir.resolve("again"), 4, 42);
        List<DemoCorpus.ClipInfo> other = DemoCorpus.generate(dir.resolve("other"), 4, 43);
        for (int i = 0; i < 4; i++) {
            assertEquals(clips.get(i).seconds(), again.get(i).seconds());
            assertEquals(clips.get(i).tempoBpm(), again.get(i).tempoBpm());
            assertArrayEquals(WavFile.readMono(clips.get(i).file()).samples(), WavFile.readMono(again.get(i).file()).samples(),
                    "rendering is not deterministic for clip " + i);
        }
        assertNotEquals(clips.stream().map(DemoCorpus.ClipInfo::tempoBpm).toList(),
                other.stream().map(DemoCorpus.ClipInfo::tempoBpm).toList());
    }
}
