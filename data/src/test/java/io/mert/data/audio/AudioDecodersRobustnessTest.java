package io.mert.data.audio;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** Damaged, forged and mislabelled input: always a named AudioFormatException, never a hang, an OOM or a crash. */
class AudioDecodersRobustnessTest {
    private static final String[] FILES = {"chord44s.flac", "chord22m.flac", "chord24bit.flac", "chord44s.ogg", "chord22m.ogg",
            "chord44s.mp3", "chord22m.mp3", "chord22m.wav"};

    @TempDir
    Path tmp;

    private static byte[] fixture(String name) throws IOException {
        return Files.readAllBytes(Fixtures.resource("audio/" + name));
    }

    private AudioFormatException fails(String name, byte[] bytes) throws IOException {
        Path f = tmp.resolve(name);
        Files.write(f, bytes);
        AudioFormatException e = assertThrows(AudioFormatException.class, () -> AudioDecoders.decode(f), name);
        assertTrue(e.getMessage().contains(f.toString()), "message must name the file: " + e.getMessage());
        return e;
    }

    @Test
    void truncatedFilesAreRejected() throws IOException {
        for (String name : FILES) {
            byte[] b = fixture(name);
            for (double keep : new double[] {0.05, 0.5, 0.97}) {
                int n = (int) (b.length * keep);
                String msg = fails("cut-" + keep + "-" + name, java.util.Arrays.copyOf(b, n)).getMessage();
                assertTrue(msg.contains("truncated"), name + " cut to " + n + " bytes: " + msg);
            }
        }
    }

    @Test
    void flippedBitsAreCaughtByChecksums() throws IOException {
        // FLAC frames carry CRC-8/CRC-16 (and the stream an MD5); Ogg pages a CRC-32. MP3 and PCM WAV
        // have no checksums, so damage there can only be caught when it breaks the structure.
        SplittableRandom rnd = new SplittableRandom(11);
        for (String name : new String[] {"chord44s.flac", "chord24bit.flac", "chord44s.ogg"}) {
            byte[] clean = fixture(name);
            for (int t = 0; t < 10; t++) {
                byte[] b = clean.clone();
                int audio = name.endsWith(".flac") ? firstFlacFrame(b) : 4096; // past the headers (flac pads with 8 KiB)
                int pos = audio + rnd.nextInt(b.length - audio);
                b[pos] ^= (byte) (1 << rnd.nextInt(8));
                String msg = fails("flip-" + t + "-" + name, b).getMessage();
                assertTrue(msg.contains("corrupt") || msg.contains("MD5") || msg.contains("lost"), msg);
            }
        }
    }

    @Test
    void forgedLengthsDoNotAllocate() throws IOException {
        // FLAC STREAMINFO claiming 2^36 - 1 samples: decoding follows the frames, then reports the mismatch
        byte[] flac = fixture("chord22m.flac");
        byte[] f1 = flac.clone();
        int si = 8; // "fLaC" + 4-byte block header
        f1[si + 13] |= 0x0F;
        for (int i = 14; i < 18; i++) f1[si + i] = (byte) 0xFF;
        assertTrue(fails("huge-total.flac", f1).getMessage().contains("STREAMINFO declares 68719476735 samples"));
        // a metadata block length pointing far past the end of the file
        byte[] f2 = flac.clone();
        int next = 8 + 34; // the block after STREAMINFO
        f2[next + 1] = (byte) 0xFF;
        f2[next + 2] = (byte) 0xFF;
        f2[next + 3] = (byte) 0xFF;
        assertTrue(fails("huge-block.flac", f2).getMessage().contains("declares 16777215 bytes"));
        // a Xing header claiming 2^32 - 1 frames
        byte[] mp3 = fixture("chord44s.mp3");
        int xing = indexOf(mp3, "Info");
        byte[] m1 = mp3.clone();
        for (int i = 8; i < 12; i++) m1[xing + i] = (byte) 0xFF;
        assertTrue(fails("huge-frames.mp3", m1).getMessage().contains("truncated"));
    }

    @Test
    void decompressionBombsHitTheLengthCap() throws IOException {
        Path f = Fixtures.resource("audio/chord44s.flac");
        AudioFormatException e = assertThrows(AudioFormatException.class, () -> AudioDecoders.decode(f, 0.5));
        assertTrue(e.getMessage().contains("longer than the limit of 0.5 s"), e.getMessage());
        for (String name : new String[] {"chord44s.ogg", "chord44s.mp3", "chord22m.wav"})
            assertThrows(AudioFormatException.class, () -> AudioDecoders.decode(Fixtures.resource("audio/" + name), 0.5), name);
    }

    @Test
    void randomDamageNeverEscapesAsAnotherException() throws IOException {
        SplittableRandom rnd = new SplittableRandom(2306);
        for (String name : FILES) {
            byte[] clean = fixture(name);
            for (int t = 0; t < 25; t++) {
                byte[] b = clean.clone();
                int edits = 1 + rnd.nextInt(20);
                for (int k = 0; k < edits; k++) b[rnd.nextInt(b.length)] = (byte) rnd.nextInt(256);
                Path f = tmp.resolve("fuzz-" + t + "-" + name);
                Files.write(f, b);
                try {
                    DecodedAudio a = AudioDecoders.decode(f, 30);
                    assertTrue(a.frames() > 0 && a.sampleRate() > 0);
                } catch (AudioFormatException expected) {
                    assertTrue(expected.getMessage().contains(f.toString()), expected.getMessage());
                }
            }
        }
    }

    @Test
    void formatComesFromContentNotName() throws IOException {
        Path flacNamedMp3 = tmp.resolve("really-flac.mp3");
        Files.write(flacNamedMp3, fixture("chord22m.flac"));
        assertEquals(AudioFormat.FLAC, AudioDecoders.decode(flacNamedMp3).format());
        Path mp3NamedWav = tmp.resolve("really-mp3.wav");
        Files.write(mp3NamedWav, fixture("chord22m.mp3"));
        assertEquals(AudioFormat.MP3, AudioDecoders.decode(mp3NamedWav).format());

        assertTrue(fails("text.ogg", "hello, not audio".getBytes()).getMessage().contains("unrecognised content"));
        assertTrue(fails("empty.flac", new byte[0]).getMessage().contains("empty file"));
        byte[] opus = fixture("chord22m.ogg");
        int head = 27 + (opus[26] & 0xFF);
        System.arraycopy("OpusHead".getBytes(), 0, opus, head, 8);
        OggCrc.fix(opus, 0);
        // a Vorbis file whose first packet claims to be OpusHead goes to the Opus decoder, which rejects the rest
        String msg = fails("opus.ogg", opus).getMessage();
        assertTrue(msg.contains("Opus"), msg);
    }

    @Test
    void id3TagInFrontOfFlacIsSkipped() throws IOException {
        byte[] flac = fixture("chord22m.flac");
        byte[] tagged = new byte[10 + 20 + flac.length];
        System.arraycopy(new byte[] {'I', 'D', '3', 3, 0, 0, 0, 0, 0, 20}, 0, tagged, 0, 10);
        System.arraycopy(flac, 0, tagged, 30, flac.length);
        Path f = tmp.resolve("tagged.flac");
        Files.write(f, tagged);
        assertArrayEquals(AudioDecoders.decode(Fixtures.resource("audio/chord22m.flac")).channels()[0],
                AudioDecoders.decode(f).channels()[0]);
    }

    private static int firstFlacFrame(byte[] b) {
        int pos = 4;
        boolean last;
        do {
            last = (b[pos] & 0x80) != 0;
            pos += 4 + (((b[pos + 1] & 0xFF) << 16) | ((b[pos + 2] & 0xFF) << 8) | (b[pos + 3] & 0xFF));
        } while (!last);
        return pos;
    }

    private static int indexOf(byte[] b, String s) {
        for (int i = 0; i + s.length() <= b.length; i++) if (AudioFormat.startsWith(b, i, s)) return i;
        throw new AssertionError(s + " not found");
    }
}
