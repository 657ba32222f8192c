package io.mert.data;

import io.mert.data.fuzz.Bounded;
import io.mert.data.fuzz.ByteMutation;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** WAV files written by {@link WavFile}, then damaged: a result with sane facts, or a WavFormatException naming the file. */
class WavFileFuzzTest {
    private static Path dir;

    @BeforeContainer
    static void makeDir() throws IOException {
        dir = Files.createTempDirectory("wavfuzz");
    }

    @AfterContainer
    static void removeDir() throws IOException {
        try (var s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }

    /** A valid file of 1-3 channels, any encoding, 0-300 frames, as bytes. */
    private static byte[] valid(WavFile.Encoding enc, int channels, int frames, boolean extensible) throws IOException {
        float[][] ch = new float[channels][frames];
        for (int c = 0; c < channels; c++)
            for (int i = 0; i < frames; i++) ch[c][i] = (float) Math.sin(0.01 * (i + 1) * (c + 1));
        Path f = dir.resolve("valid-" + System.nanoTime() + ".wav");
        WavFile.write(f, ch, 16000, enc, extensible);
        byte[] b = Files.readAllBytes(f);
        Files.delete(f);
        return b;
    }

    @Provide
    Arbitrary<List<ByteMutation>> mutations() {
        return ByteMutation.several();
    }

    @Property(tries = 400)
    void damagedFilesReadSanelyOrFailNamingTheFile(@ForAll WavFile.Encoding enc, @ForAll @IntRange(min = 1, max = 3) int channels,
                                                   @ForAll @IntRange(min = 0, max = 300) int frames, @ForAll boolean extensible,
                                                   @ForAll("mutations") List<ByteMutation> damage) throws IOException {
        byte[] bytes = ByteMutation.applyAll(damage, valid(enc, channels, frames, extensible));
        Path f = dir.resolve("damaged.wav");
        Files.write(f, bytes);
        // Samples are floats (4 bytes) per input sample of >= 1 byte, plus the file itself: bounded by the real size.
        long budget = 16L * bytes.length + (1 << 20);
        var pcm = Bounded.runNaming(WavFormatException.class, f.toString(), budget, () -> WavFile.read(f, bytes));
        if (pcm.ok()) checkSane(pcm.value(), bytes.length);
        var mono = Bounded.runNaming(IOException.class, f.toString(), budget, () -> WavFile.readMono(f));
        assertEquals(pcm.ok(), mono.ok(), "read and readMono must agree on " + f);
        if (mono.ok()) assertEquals(pcm.value().info().frames(), mono.value().samples().length);
    }

    private static void checkSane(WavFile.Pcm p, int fileBytes) {
        WavFile.Info i = p.info();
        assertTrue(i.sampleRate() > 0 && i.channels() > 0 && i.frames() >= 0, i.toString());
        assertTrue(i.frames() * i.channels() * i.encoding().bytes() <= fileBytes, "more samples than bytes: " + i);
        assertEquals(i.channels(), p.channels().length);
        for (float[] c : p.channels()) {
            assertEquals(i.frames(), c.length);
            if (i.encoding() != WavFile.Encoding.FLOAT_32 && i.encoding() != WavFile.Encoding.FLOAT_64)
                for (float v : c) {
                    // 32-bit samples near full scale round to 1.0f: 2^31 - 1 has more bits than a float's mantissa
                    boolean inRange = v >= -1f && (i.encoding() == WavFile.Encoding.PCM_32 ? v <= 1f : v < 1f);
                    assertTrue(inRange, "integer PCM outside [-1, 1) (" + i.encoding() + "): " + v);
                }
        }
    }

    @Property(tries = 200)
    void randomGarbageBehindARiffHeaderFailsCleanly(@ForAll byte[] tail) throws IOException {
        byte[] b = ByteBuffer.allocate(12 + tail.length).order(ByteOrder.LITTLE_ENDIAN)
                .put("RIFF".getBytes()).putInt(4 + tail.length).put("WAVE".getBytes()).put(tail).array();
        Path f = dir.resolve("garbage.wav");
        Files.write(f, b);
        Bounded.runNaming(WavFormatException.class, f.toString(), 16L * b.length + (1 << 20), () -> WavFile.read(f, b));
    }

    /**
     * Regression: a chunk before 'data' declaring 4 GiB moved the chunk cursor to Integer.MAX_VALUE,
     * where the bounds check overflowed and the next tag read threw StringIndexOutOfBoundsException.
     */
    @Example
    void hugeUnknownChunkBeforeDataIsTruncationNotACrash() throws IOException {
        byte[] good = valid(WavFile.Encoding.PCM_16, 1, 10, false);
        for (long size : new long[] {0xFFFFFFFFL, 0xFFFFFFF0L, 0x7FFFFFFFL, 0x7FFFFFF8L}) {
            ByteBuffer b = ByteBuffer.allocate(good.length + 8).order(ByteOrder.LITTLE_ENDIAN);
            b.put(good, 0, 12).put("junk".getBytes()).putInt((int) size).put(good, 12, good.length - 12);
            Path f = dir.resolve("junk-" + size + ".wav");
            Files.write(f, b.array());
            WavFormatException e = assertThrows(WavFormatException.class, () -> WavFile.readMono(f));
            assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("no 'fmt ' chunk"), e.getMessage());
        }
    }

    @Example
    void forgedDataSizeIsReportedAsTruncation() throws IOException {
        byte[] b = valid(WavFile.Encoding.PCM_24, 2, 50, false);
        int data = 36; // plain PCM: RIFF header 12 + fmt chunk 24
        assertEquals("data", new String(b, data, 4));
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(data + 4, 0xFFFFFFF0);
        Path f = dir.resolve("forged.wav");
        Files.write(f, b);
        WavFormatException e = assertThrows(WavFormatException.class, () -> WavFile.readMono(f));
        assertTrue(e.getMessage().contains("declares 4294967280 bytes but only 300 follow"), e.getMessage());
    }

    @Example
    void everyTruncationOfASmallFileFailsOrReadsAPrefix() throws IOException {
        byte[] good = valid(WavFile.Encoding.FLOAT_32, 2, 20, true);
        float[][] full = WavFile.read(dir.resolve("full.wav"), good).channels();
        for (int n = 0; n < good.length; n++) {
            byte[] cut = java.util.Arrays.copyOf(good, n);
            Path f = dir.resolve("cut-" + n + ".wav");
            try {
                WavFile.Pcm p = WavFile.read(f, cut);
                // only a cut inside the padding-free tail can still parse, and then as a strict prefix
                for (int c = 0; c < 2; c++)
                    assertArrayEquals(java.util.Arrays.copyOf(full[c], p.channels()[c].length), p.channels()[c]);
            } catch (WavFormatException e) {
                assertTrue(e.getMessage().contains(f.toString()), e.getMessage());
            }
        }
    }
}
