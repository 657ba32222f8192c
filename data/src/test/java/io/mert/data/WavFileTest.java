package io.mert.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class WavFileTest {
    @TempDir
    Path dir;

    private static float[] noise(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (0.9 * (2 * r.nextDouble() - 1));
        return x;
    }

    @Test
    void roundTripsEveryEncodingMonoAndStereoPlainAndExtensible() throws IOException {
        for (WavFile.Encoding enc : WavFile.Encoding.values()) {
            for (boolean ext : new boolean[] {false, true}) {
                float[] left = noise(1001, 1), right = noise(1001, 2);
                Path f = dir.resolve(enc + "-" + ext + ".wav");
                WavFile.write(f, new float[][] {left, right}, 22050, enc, ext);
                WavFile.Info info = WavFile.info(f);
                assertEquals(new WavFile.Info(22050, 2, enc, 1001), info);
                WavFile.Audio a = WavFile.readMono(f);
                assertEquals(22050, a.sampleRate());
                // PCM rounds each channel to the nearest step: averaging two keeps the error within one half step.
                double tol = enc.name().startsWith("PCM") ? 0.5 / Math.scalb(1.0, enc.bytes() * 8 - 1) + 1e-7 : 1e-7;
                for (int i = 0; i < 1001; i++)
                    assertEquals((left[i] + right[i]) / 2, a.samples()[i], tol, enc + " ext=" + ext + " sample " + i);

                Path m = dir.resolve(enc + "-" + ext + "-mono.wav");
                WavFile.writeMono(m, left, 24000, enc);
                float[] back = WavFile.readMono(m).samples();
                for (int i = 0; i < 1001; i++) assertEquals(left[i], back[i], tol, enc + " mono sample " + i);
            }
        }
        try (var files = Files.list(dir)) {
            assertTrue(files.noneMatch(p -> p.getFileName().toString().endsWith(".tmp")), "temp files left behind");
        }
    }

    @Test
    void pcmClipsOutOfRangeValues() throws IOException {
        Path f = dir.resolve("clip.wav");
        WavFile.writeMono(f, new float[] {2f, -2f, 1f, -1f}, 8000, WavFile.Encoding.PCM_16);
        float[] x = WavFile.readMono(f).samples();
        assertArrayEquals(new float[] {32767 / 32768f, -1f, 32767 / 32768f, -1f}, x, 0f);
    }

    @Test
    void skipsUnknownAndOddSizedChunks() throws IOException {
        Path f = dir.resolve("plain.wav");
        float[] x = noise(50, 3);
        WavFile.writeMono(f, x, 16000, WavFile.Encoding.PCM_16);
        byte[] b = Files.readAllBytes(f);
        // insert an odd-sized LIST chunk (5 bytes + pad) after the fmt chunk (header 12 + fmt 24)
        byte[] list = {'L', 'I', 'S', 'T', 5, 0, 0, 0, 1, 2, 3, 4, 5, 0};
        byte[] c = new byte[b.length + list.length];
        System.arraycopy(b, 0, c, 0, 36);
        System.arraycopy(list, 0, c, 36, list.length);
        System.arraycopy(b, 36, c, 36 + list.length, b.length - 36);
        ByteBuffer.wrap(c).order(ByteOrder.LITTLE_ENDIAN).putInt(4, c.length - 8);
        Path g = dir.resolve("list.wav");
        Files.write(g, c);
        assertArrayEquals(WavFile.readMono(f).samples(), WavFile.readMono(g).samples());
    }

    @Test
    void clearErrorsForBadInput() throws IOException {
        Path empty = dir.resolve("empty.wav");
        Files.write(empty, new byte[0]);
        assertMessage(empty, "empty file");

        Path garbage = dir.resolve("garbage.wav");
        byte[] g = new byte[300];
        new Random(5).nextBytes(g);
        Files.write(garbage, g);
        assertMessage(garbage, "not a RIFF/WAVE file");

        Path good = dir.resolve("good.wav");
        WavFile.writeMono(good, noise(1000, 4), 16000, WavFile.Encoding.PCM_16);
        byte[] full = Files.readAllBytes(good);
        Path truncated = dir.resolve("truncated.wav");
        Files.write(truncated, Arrays.copyOf(full, full.length / 2));
        assertMessage(truncated, "truncated");

        Path headerOnly = dir.resolve("header.wav");
        Files.write(headerOnly, Arrays.copyOf(full, 30));
        assertMessage(headerOnly, "truncated or invalid 'fmt ' chunk");

        byte[] adpcm = full.clone();
        ByteBuffer.wrap(adpcm).order(ByteOrder.LITTLE_ENDIAN).putShort(20, (short) 2);
        Path unsupported = dir.resolve("adpcm.wav");
        Files.write(unsupported, adpcm);
        assertMessage(unsupported, "unsupported encoding (format tag 2");
    }

    private static void assertMessage(Path f, String fragment) {
        WavFormatException e = assertThrows(WavFormatException.class, () -> WavFile.readMono(f));
        assertTrue(e.getMessage().contains(fragment) && e.getMessage().contains(f.getFileName().toString()),
                "message should name the file and say '" + fragment + "': " + e.getMessage());
    }
}
