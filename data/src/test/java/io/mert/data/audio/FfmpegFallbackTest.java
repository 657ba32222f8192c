package io.mert.data.audio;

import io.mert.data.WavFile;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The ffmpeg fallback with the real ffmpeg on formats no Java decoder here reads: WavPack and ALAC
 * (lossless, so the decode must equal the source WAV exactly), AAC with PNS, and the errors without
 * it, on failure and on a hung ffmpeg. Tests that need ffmpeg are skipped, with a warning, when it is
 * not installed (CI installs it: .ci/run).
 */
class FfmpegFallbackTest {
    private static final Logger LOG = LoggerFactory.getLogger(FfmpegFallbackTest.class);

    private static FfmpegDecoder ffmpegOrSkip() throws AudioFormatException {
        FfmpegDecoder f = FfmpegDecoder.locate();
        if (f == null) LOG.warn("ffmpeg is not installed: skipping the ffmpeg fallback tests (apt-get install ffmpeg)");
        Assumptions.assumeTrue(f != null, "ffmpeg is not installed (apt-get install ffmpeg); fallback test skipped");
        return f;
    }

    private static DecodedAudio viaFfmpeg(Path p, FfmpegDecoder f) throws IOException {
        return AudioDecoders.decode(p, AudioDecoders.DEFAULT_MAX_SECONDS, new AudioDecoders.Fallback.Ffmpeg(f));
    }

    private static WavFile.Pcm wav(String name) throws IOException {
        Path p = Fixtures.resource("audio/" + name);
        return WavFile.read(p, Files.readAllBytes(p));
    }

    @Test
    void losslessFormatsDecodeToTheirSourceExactly() throws IOException {
        FfmpegDecoder f = ffmpegOrSkip();
        String[][] cases = {{"chord44s.wv", "chord44s.wav"}, {"chord22m.alac.m4a", "chord22m.wav"}};
        for (String[] c : cases) {
            DecodedAudio got = viaFfmpeg(Fixtures.resource("audio/" + c[0]), f);
            WavFile.Pcm src = wav(c[1]);
            assertEquals(AudioFormat.FFMPEG, got.format(), c[0]);
            assertEquals(src.info().sampleRate(), got.sampleRate(), c[0]);
            assertEquals(src.info().channels(), got.channelCount(), c[0]);
            // 16-bit samples as float: both sides divide the same integers by 32768
            for (int ch = 0; ch < got.channelCount(); ch++) assertArrayEquals(src.channels()[ch], got.channels()[ch], c[0] + " channel " + ch);
        }
    }

    @Test
    void aacGoesToFfmpegWhenItIsThere() throws IOException {
        FfmpegDecoder f = ffmpegOrSkip();
        // ffmpeg's AAC decoder made the committed reference (rounded to 16 bits); the fallback reads its
        // float output, so the two differ by the rounding: at most half a step (1 allowed for other ffmpeg versions)
        DecodedAudio got = viaFfmpeg(Fixtures.resource("audio/music44s.m4a"), f);
        DecodedAudio ref = AudioDecoders.decode(Fixtures.resource("audio/music44s.m4a.flac"));
        assertEquals(AudioFormat.FFMPEG, got.format());
        assertEquals(ref.frames(), got.frames());
        double maxLsb = 0;
        for (int c = 0; c < 2; c++)
            for (int i = 0; i < got.frames(); i++) maxLsb = Math.max(maxLsb, Math.abs(got.channels()[c][i] - ref.channels()[c][i]) * 32768);
        LOG.info("music44s.m4a through ffmpeg: largest difference from the committed 16-bit ffmpeg decode {} LSB", maxLsb);
        assertTrue(maxLsb <= 1, maxLsb + " LSB");

        // PNS, which JAAD cannot decode: ffmpeg decodes it, aligned with JAAD's decode of a PNS-free encode of the same music
        DecodedAudio pns = viaFfmpeg(Fixtures.resource("audio/music44pns.m4a"), f);
        DecodedAudio jaad = AudioDecoders.decode(Fixtures.resource("audio/music44s.m4a"), 60, new AudioDecoders.Fallback.None());
        assertEquals(44100, pns.sampleRate());
        assertEquals(2, pns.channelCount());
        assertTrue(Math.abs(pns.frames() - 44100) <= 1024, "about 1 s: " + pns.frames());
        assertEquals(0, Fixtures.bestLag(jaad.channels()[0], pns.channels()[0], 3000), "priming not removed");
        double codec = Fixtures.snrDb(jaad.channels(), pns.channels(), 0);
        LOG.info("music44pns.m4a through ffmpeg vs JAAD on the PNS-free encode: {} dB", String.format(Locale.ROOT, "%.1f", codec));
        assertTrue(codec >= 10, codec + " dB: not the same music");
    }

    @Test
    void withoutFfmpegTheErrorNamesTheFormatAndWhatToInstall() {
        Path wv = Fixtures.resource("audio/chord44s.wv");
        UnsupportedAudioFeatureException e = assertThrows(UnsupportedAudioFeatureException.class,
                () -> AudioDecoders.decode(wv, 60, new AudioDecoders.Fallback.None()));
        assertTrue(e.getMessage().contains(wv.toString()) && e.getMessage().contains("WavPack")
                && e.getMessage().contains("apt-get install ffmpeg") && e.getMessage().contains("WAV or FLAC"), e.getMessage());
        Path alac = Fixtures.resource("audio/chord22m.alac.m4a");
        e = assertThrows(UnsupportedAudioFeatureException.class, () -> AudioDecoders.decode(alac, 60, new AudioDecoders.Fallback.None()));
        assertTrue(e.getMessage().contains("Apple Lossless") && e.getMessage().contains("apt-get install ffmpeg"), e.getMessage());
    }

    @Test
    void ffmpegsOwnErrorIsReported(@TempDir Path tmp) throws IOException {
        FfmpegDecoder f = ffmpegOrSkip();
        Path junk = tmp.resolve("junk.bin");
        Files.write(junk, "this is no audio at all, just text that ffmpeg cannot probe".repeat(20).getBytes());
        AudioFormatException e = assertThrows(AudioFormatException.class, () -> viaFfmpeg(junk, f));
        assertTrue(e.getMessage().contains(junk.toString()) && e.getMessage().contains("ffmpeg could not decode it"), e.getMessage());
    }

    @Test
    void lengthCapStopsTheDecode() throws IOException {
        FfmpegDecoder f = ffmpegOrSkip();
        Path wv = Fixtures.resource("audio/chord44s.wv");
        AudioFormatException e = assertThrows(AudioFormatException.class,
                () -> AudioDecoders.decode(wv, 0.5, new AudioDecoders.Fallback.Ffmpeg(f)));
        assertTrue(e.getMessage().contains("longer than the limit"), e.getMessage());
    }

    @Test
    void aHungFfmpegIsKilled(@TempDir Path tmp) throws IOException {
        // a stand-in that never writes (the real ffmpeg cannot be made to hang on demand)
        Path fake = tmp.resolve("ffmpeg");
        Files.writeString(fake, "#!/bin/sh\nexec sleep 120\n");
        Files.setPosixFilePermissions(fake, PosixFilePermissions.fromString("rwx------"));
        long t0 = System.nanoTime();
        AudioFormatException e = assertThrows(AudioFormatException.class,
                () -> AudioDecoders.decode(Fixtures.resource("audio/chord44s.wv"), 60, new AudioDecoders.Fallback.Ffmpeg(new FfmpegDecoder(fake, 1))));
        double s = (System.nanoTime() - t0) / 1e9;
        assertTrue(e.getMessage().contains("did not finish") && e.getMessage().contains("killed"), e.getMessage());
        assertTrue(s < 60, "took " + s + " s");
    }

    @Test
    void theBinaryComesFromMertFfmpegElseThePath(@TempDir Path tmp) throws IOException {
        Path bin = tmp.resolve("bin");
        Files.createDirectories(bin);
        Path fake = bin.resolve("ffmpeg");
        Files.writeString(fake, "#!/bin/sh\n");
        Files.setPosixFilePermissions(fake, PosixFilePermissions.fromString("rwx------"));
        Path other = tmp.resolve("my-ffmpeg");
        Files.copy(fake, other);
        Files.setPosixFilePermissions(other, PosixFilePermissions.fromString("rwx------"));

        assertEquals(fake, FfmpegDecoder.locate(Map.of("PATH", tmp.resolve("none") + ":" + bin)).binary());
        assertNull(FfmpegDecoder.locate(Map.of("PATH", tmp.resolve("none").toString())));
        assertEquals(other, FfmpegDecoder.locate(Map.of("PATH", bin.toString(), FfmpegDecoder.ENV, other.toString())).binary());
        AudioFormatException e = assertThrows(AudioFormatException.class,
                () -> FfmpegDecoder.locate(Map.of(FfmpegDecoder.ENV, tmp.resolve("missing").toString())));
        assertTrue(e.getMessage().contains("MERT_FFMPEG=") && e.getMessage().contains("not an executable"), e.getMessage());
    }
}
