package io.mert.data.audio;

import io.mert.data.fuzz.Bounded;
import io.mert.data.fuzz.ByteMutation;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.DoubleRange;
import net.jqwik.api.constraints.Size;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The committed WAV/FLAC/Vorbis/MP3/Opus/AAC fixtures, damaged: a decode with sane facts, or an
 * AudioFormatException naming the file; never another exception, a hang, or a decode longer than the cap.
 * The Java decoders run without the ffmpeg fallback; a smaller property sends damaged files through ffmpeg.
 */
class AudioDecodersFuzzTest {
    private static final double MAX_SECONDS = 30;
    private static Path dir;

    @BeforeContainer
    static void makeDir() throws IOException {
        dir = Files.createTempDirectory("audiofuzz");
    }

    @AfterContainer
    static void removeDir() throws IOException {
        try (var s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }

    @Provide
    Arbitrary<String> fixtures() {
        return net.jqwik.api.Arbitraries.of("chord22m.flac", "chord24bit.flac", "edge22s.flac", "chord22m.ogg", "chord22m.mp3",
                "chord44s.mp3", "chord22m.wav", "music48m.opus", "music48q.opus", "music44s.m4a", "music44s.aac");
    }

    @Provide
    Arbitrary<List<ByteMutation>> mutations() {
        return ByteMutation.several();
    }

    /** Decoded audio is at most MAX_SECONDS of float channels, plus the file and decoder state. */
    private static long budget(byte[] b) {
        return 8L * b.length + (long) (MAX_SECONDS * 48000 * 8 * 4 * 4) + (64L << 20);
    }

    private static void decodeDamaged(String name, byte[] bytes) throws IOException {
        decodeDamaged(name, bytes, new AudioDecoders.Fallback.None());
    }

    private static void decodeDamaged(String name, byte[] bytes, AudioDecoders.Fallback fallback) throws IOException {
        Path f = dir.resolve("damaged-" + name);
        Files.write(f, bytes);
        var out = Bounded.runNaming(AudioFormatException.class, f.toString(), budget(bytes), () -> AudioDecoders.decode(f, MAX_SECONDS, fallback));
        if (out.ok()) {
            DecodedAudio a = out.value();
            assertTrue(a.sampleRate() > 0 && a.channels().length > 0 && a.frames() >= 0, name);
            assertTrue(a.frames() <= MAX_SECONDS * a.sampleRate() + 1, "decoded past the length cap: " + a.frames());
            for (float[] c : a.channels()) assertTrue(c.length == a.frames(), "ragged channels");
        }
    }

    @Property(tries = 300)
    void damagedFixturesDecodeOrFailNamingTheFile(@ForAll("fixtures") String name, @ForAll("mutations") List<ByteMutation> damage)
            throws IOException {
        decodeDamaged(name, ByteMutation.applyAll(damage, Files.readAllBytes(Fixtures.resource("audio/" + name))));
    }

    @Property(tries = 100)
    void truncationAtAnyOffset(@ForAll("fixtures") String name, @ForAll @DoubleRange(min = 0, max = 1) double keep) throws IOException {
        byte[] b = Files.readAllBytes(Fixtures.resource("audio/" + name));
        decodeDamaged(name, Arrays.copyOf(b, (int) (keep * b.length)));
    }

    @Property(tries = 100)
    void garbageAfterAFormatMagic(@ForAll("magics") String magic, @ForAll @Size(max = 4000) byte[] tail) throws IOException {
        byte[] m = magic.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
        byte[] b = Arrays.copyOf(m, m.length + tail.length);
        System.arraycopy(tail, 0, b, m.length, tail.length);
        decodeDamaged("garbage", b);
    }

    @Provide
    Arbitrary<String> magics() {
        return net.jqwik.api.Arbitraries.of("", "fLaC", "ID3\u0003\u0000\u0000\u0000\u0000\u0000\u0010", "\u00ff\u00fb\u0090\u0064",
                "OggS\u0000\u0002", "RIFF\u0000\u0000\u0000\u0000WAVE", "\u0000\u0000\u0000\u0020ftypM4A ",
                "\u00ff\u00f1\u0050\u0080\u0002\u001f\u00fc");
    }

    /** Damaged files that end up with ffmpeg (a format only it reads, and AAC, which it is preferred for); few tries, each starts a process. */
    @Property(tries = 8)
    void damagedFilesThroughFfmpeg(@ForAll("ffmpegFixtures") String name, @ForAll("mutations") List<ByteMutation> damage) throws IOException {
        FfmpegDecoder ffmpeg = FfmpegDecoder.locate();
        if (ffmpeg == null) {
            org.slf4j.LoggerFactory.getLogger(AudioDecodersFuzzTest.class).warn("ffmpeg is not installed: damaged files not sent through it");
            return;
        }
        decodeDamaged(name, ByteMutation.applyAll(damage, Files.readAllBytes(Fixtures.resource("audio/" + name))),
                new AudioDecoders.Fallback.Ffmpeg(ffmpeg));
    }

    @Provide
    Arbitrary<String> ffmpegFixtures() {
        return net.jqwik.api.Arbitraries.of("chord44s.wv", "chord22m.alac.m4a", "music44pns.m4a");
    }
}
