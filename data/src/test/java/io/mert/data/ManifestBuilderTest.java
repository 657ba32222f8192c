package io.mert.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.*;

class ManifestBuilderTest {
    @TempDir
    Path tmp;

    private static float[] tone(int rate, double seconds, double f) {
        float[] x = new float[(int) Math.round(rate * seconds)];
        for (int i = 0; i < x.length; i++) x[i] = (float) (0.5 * Math.sin(2 * Math.PI * f * i / rate));
        return x;
    }

    @Test
    void convertsSplitsAndListsSkippedFiles() throws IOException {
        Path root = tmp.resolve("orig");
        Files.createDirectories(root.resolve("sub"));
        WavFile.writeMono(root.resolve("a.wav"), tone(22050, 4.0, 440), 22050, WavFile.Encoding.PCM_16);
        WavFile.writeMono(root.resolve("b.wav"), tone(24000, 3.5, 220), 24000, WavFile.Encoding.PCM_16);
        float[] l = tone(44100, 5.0, 330), r = tone(44100, 5.0, 660);
        WavFile.write(root.resolve("sub/c.WAV"), new float[][] {l, r}, 44100, WavFile.Encoding.FLOAT_32, true);
        WavFile.writeMono(root.resolve("sub/d.wav"), tone(22050, 6.0, 100), 22050, WavFile.Encoding.PCM_24);
        WavFile.writeMono(root.resolve("short.wav"), tone(22050, 1.0, 440), 22050, WavFile.Encoding.PCM_16);
        WavFile.writeMono(root.resolve("silent-empty.wav"), new float[0], 22050, WavFile.Encoding.PCM_16);
        Files.write(root.resolve("empty.wav"), new byte[0]);
        Files.write(root.resolve("corrupt.wav"), "this is not audio".getBytes());
        Files.writeString(root.resolve("notes.txt"), "ignored: wrong extension");
        Map<Path, byte[]> before = snapshot(root);

        Path conv = tmp.resolve("converted");
        Path out = tmp.resolve("manifest");
        ManifestBuilder.Options opts = ManifestBuilder.Options.defaults(root, conv, out).withValidFraction(0.25).withSeed(5);
        ManifestBuilder.Result res = ManifestBuilder.build(opts);

        Map<String, String> reasons = res.skipped().stream()
                .collect(Collectors.toMap(ManifestBuilder.Skipped::path, ManifestBuilder.Skipped::reason));
        assertEquals(Set.of("short.wav", "silent-empty.wav", "empty.wav", "corrupt.wav"), reasons.keySet());
        assertTrue(reasons.get("short.wav").startsWith("too short"), reasons.get("short.wav"));
        assertTrue(reasons.get("silent-empty.wav").startsWith("empty"), reasons.get("silent-empty.wav"));
        assertTrue(reasons.get("empty.wav").contains("empty file"), reasons.get("empty.wav"));
        // text in a .wav: "corrupt" when ffmpeg is installed and fails on it too, else "unsupported" (install ffmpeg)
        assertTrue(reasons.get("corrupt.wav").startsWith("corrupt") || reasons.get("corrupt.wav").startsWith("unsupported"),
                reasons.get("corrupt.wav"));
        assertEquals(4, Files.readAllLines(out.resolve("skipped.tsv")).size());

        Manifest train = Manifest.read(out.resolve("train.tsv"));
        Manifest valid = Manifest.read(out.resolve("valid.tsv"));
        assertEquals(conv.toAbsolutePath(), train.root());
        assertEquals(3, train.size());
        assertEquals(1, valid.size());
        Map<String, Long> expected = Map.of("a.wav", (long) Math.ceil(4.0 * 22050 * 24000 / 22050), "b.wav", 84000L,
                "sub/c.wav", 120000L, "sub/d.wav", 144000L);
        Map<String, Long> got = new HashMap<>();
        for (Manifest m : List.of(train, valid))
            for (int i = 0; i < m.size(); i++) {
                got.put(m.entry(i).path(), m.entry(i).numSamples());
                WavFile.Info info = WavFile.info(m.resolve(i));
                assertEquals(24000, info.sampleRate());
                assertEquals(1, info.channels());
                assertEquals(m.entry(i).numSamples(), info.frames());
            }
        assertEquals(expected, got);
        // stereo 330 + 660 Hz averaged: the converted file is the mean of the two tones
        float[] c = WavFile.readMono(conv.resolve("sub/c.wav")).samples();
        int i = 60000;
        double want = 0.25 * (Math.sin(2 * Math.PI * 330 * i / 24000.0) + Math.sin(2 * Math.PI * 660 * i / 24000.0));
        assertEquals(want, c[i], 1e-3);

        assertEquals(4, res.converted());
        ManifestBuilder.Result again = ManifestBuilder.build(opts);
        assertEquals(0, again.converted());
        assertEquals(4, again.reused());
        assertEquals(train, Manifest.read(out.resolve("train.tsv")));
        assertEquals(valid, Manifest.read(out.resolve("valid.tsv")));

        Map<Path, byte[]> after = snapshot(root);
        assertEquals(before.keySet(), after.keySet());
        for (Path p : before.keySet()) assertArrayEquals(before.get(p), after.get(p), "original changed: " + p);
    }

    @Test
    void refusesToConvertOntoTheOriginals() throws IOException {
        Path root = tmp.resolve("r");
        Files.createDirectories(root);
        assertThrows(IllegalArgumentException.class,
                () -> ManifestBuilder.build(ManifestBuilder.Options.defaults(root, root, tmp.resolve("o"))));
        assertThrows(IllegalArgumentException.class,
                () -> ManifestBuilder.build(ManifestBuilder.Options.defaults(root, tmp, tmp.resolve("o"))));
    }

    @Test
    void manifestReaderValidates() throws IOException {
        Path ok = tmp.resolve("ok.tsv");
        Files.writeString(ok, "/data/audio\na/b.wav\t123\nc.wav\t7\n");
        Manifest m = Manifest.read(ok);
        assertEquals(Path.of("/data/audio"), m.root());
        assertEquals(List.of(new Manifest.Entry("a/b.wav", 123), new Manifest.Entry("c.wav", 7)), m.entries());
        assertEquals(Path.of("/data/audio/a/b.wav"), m.resolve(0));
        assertEquals(130, m.totalSamples());

        for (String bad : new String[] {"../x.wav\t5", "/etc/passwd\t5", "a/../../x.wav\t5", "a.wav", "a.wav\tten", "a.wav\t0", "a.wav\t5\textra"}) {
            Path f = tmp.resolve("bad.tsv");
            Files.writeString(f, "/data/audio\n" + bad + "\n");
            IOException e = assertThrows(IOException.class, () -> Manifest.read(f), bad);
            assertTrue(e.getMessage().contains("bad.tsv line 2"), e.getMessage());
        }
        Path empty = tmp.resolve("empty.tsv");
        Files.writeString(empty, "");
        assertThrows(IOException.class, () -> Manifest.read(empty));

        Path w = tmp.resolve("w.tsv");
        m.write(w);
        assertEquals(m, Manifest.read(w));
    }

    private static Map<Path, byte[]> snapshot(Path root) throws IOException {
        Map<Path, byte[]> m = new HashMap<>();
        try (var s = Files.walk(root)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) m.put(root.relativize(p), Files.readAllBytes(p));
        }
        return m;
    }

    private static Path fixture(String name) throws Exception {
        return Path.of(ManifestBuilderTest.class.getResource("/audio/" + name).toURI());
    }

    @Test
    void mixedFormatsConvertAndACorruptFileIsSkipped() throws Exception {
        Path root = tmp.resolve("mixed");
        Files.createDirectories(root.resolve("lossy"));
        Files.copy(fixture("chord44s.flac"), root.resolve("a.flac"));          // 1.0 s, 44.1 kHz stereo, 16 bit
        Files.copy(fixture("chord24bit.flac"), root.resolve("b.FLAC"));        // 0.5 s, 22.05 kHz, 24 bit
        Files.copy(fixture("chord22m.ogg"), root.resolve("lossy/c.ogg"));      // 1.5 s, 22.05 kHz
        Files.copy(fixture("chord22m.mp3"), root.resolve("lossy/d.mp3"));      // 1.5 s, 22.05 kHz
        WavFile.writeMono(root.resolve("e.wav"), tone(16000, 1.0, 440), 16000, WavFile.Encoding.PCM_16);
        byte[] flac = Files.readAllBytes(fixture("chord22m.flac"));
        Files.write(root.resolve("lossy/broken.flac"), Arrays.copyOf(flac, flac.length / 2));
        Files.copy(fixture("chord22m.mp3"), root.resolve("lossy/c.mp3"));      // converts to c.wav too: a duplicate
        Files.writeString(root.resolve("notes.txt"), "not picked up");

        Path conv = tmp.resolve("mixed-converted");
        Path out = tmp.resolve("mixed-manifest");
        ManifestBuilder.Options opts = new ManifestBuilder.Options(root, conv, out, 24000,
                List.of("wav,flac", ".OGG", "mp3"), 0, 1, 0.25);
        assertEquals(List.of("wav", "flac", "ogg", "mp3"), opts.extensions());
        ManifestBuilder.Result res = ManifestBuilder.build(opts);

        Map<String, String> reasons = res.skipped().stream()
                .collect(Collectors.toMap(ManifestBuilder.Skipped::path, ManifestBuilder.Skipped::reason));
        assertEquals(Set.of("lossy/broken.flac", "lossy/c.ogg"), reasons.keySet(), reasons.toString());
        assertTrue(reasons.get("lossy/broken.flac").startsWith("corrupt: ") && reasons.get("lossy/broken.flac").contains("truncated"),
                reasons.get("lossy/broken.flac"));
        assertTrue(reasons.get("lossy/c.ogg").startsWith("duplicate"), reasons.get("lossy/c.ogg")); // c.mp3 sorts first
        List<String> skippedTsv = Files.readAllLines(out.resolve("skipped.tsv"));
        assertEquals(2, skippedTsv.size());
        assertTrue(skippedTsv.stream().anyMatch(l -> l.startsWith("lossy/broken.flac\tcorrupt: ")), skippedTsv.toString());

        Manifest train = Manifest.read(out.resolve("train.tsv"));
        Map<String, Long> got = new HashMap<>();
        for (int i = 0; i < train.size(); i++) got.put(train.entry(i).path(), train.entry(i).numSamples());
        // lengths: ceil(frames * 24000 / rate), with MP3 and Vorbis trimmed to the encoder's input length
        assertEquals(Map.of("a.wav", 24000L, "b.wav", 12000L, "lossy/c.wav", 36000L, "lossy/d.wav", 36000L, "e.wav", 24000L), got);
        assertEquals(5, res.converted());

        // the converted FLAC is our resampler applied to the decoded mono mix, stored as 16 bit
        float[] decoded = io.mert.data.audio.AudioDecoders.decode(root.resolve("a.flac")).mono();
        float[] want = Resampler.resample(decoded, 44100, 24000);
        float[] a = WavFile.readMono(conv.resolve("a.wav")).samples();
        assertEquals(WavFile.Encoding.PCM_16, WavFile.info(conv.resolve("a.wav")).encoding());
        for (int i = 0; i < want.length; i++) assertEquals(want[i], a[i], 0.5 / 32768 + 1e-7, "sample " + i);
        // 24-bit source keeps its resolution: float output
        assertEquals(WavFile.Encoding.FLOAT_32, WavFile.info(conv.resolve("b.wav")).encoding());
        assertEquals(WavFile.Encoding.FLOAT_32, WavFile.info(conv.resolve("lossy/d.wav")).encoding());

        // nothing to convert again on a rerun; the corrupt file is still listed
        ManifestBuilder.Result again = ManifestBuilder.build(opts);
        assertEquals(0, again.converted());
        assertEquals(5, again.reused());
        assertEquals(2, again.skipped().size());
    }

    @Test
    void unsupportedExtensionsAreRejectedUpFront() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
                new ManifestBuilder.Options(tmp, tmp.resolve("c"), tmp.resolve("o"), 24000, List.of("wav,txt"), 0, 1, 0));
        assertTrue(e.getMessage().contains("'txt'") && e.getMessage().contains("wav, flac, ogg, mp3, opus, m4a, aac")
                && e.getMessage().contains("through ffmpeg"), e.getMessage());
    }

    @Test
    void opusAacAndFfmpegOnlyFormatsArePickedUp() throws Exception {
        Path root = tmp.resolve("codecs");
        Files.createDirectories(root);
        Files.copy(fixture("music48m.opus"), root.resolve("o.opus"));
        Files.copy(fixture("music44s.m4a"), root.resolve("m.m4a"));
        Files.copy(fixture("chord44s.wv"), root.resolve("w.wv"));
        ManifestBuilder.Options opts = new ManifestBuilder.Options(root, tmp.resolve("codecs-conv"), tmp.resolve("codecs-out"), 24000,
                List.of("opus,M4A", ".wv"), 0, 1, 0.25);
        assertEquals(List.of("opus", "m4a", "wv"), opts.extensions());
        ManifestBuilder.Result res = ManifestBuilder.build(opts);
        Map<String, Long> got = new HashMap<>();
        for (int i = 0; i < res.train().size(); i++) got.put(res.train().entry(i).path(), res.train().entry(i).numSamples());
        boolean ffmpeg = io.mert.data.audio.FfmpegDecoder.locate() != null;
        // lengths: ceil(frames * 24000 / rate); Opus decodes at 48 kHz. With ffmpeg the M4A goes to ffmpeg 5.1,
        // which keeps the last frame's padding (88064 frames); JAAD trims to the encoder's input (87232)
        assertEquals(24000L, got.get("o.wav"));
        assertEquals(ffmpeg ? 47926L : 47474L, got.get("m.wav"));
        if (ffmpeg) {
            assertEquals(24000L, got.get("w.wav"));
            assertTrue(res.skipped().isEmpty(), res.skipped().toString());
        } else {
            assertFalse(got.containsKey("w.wav"));
            assertEquals(1, res.skipped().size());
            String why = res.skipped().get(0).reason();
            assertTrue(why.startsWith("unsupported: ") && why.contains("WavPack") && why.contains("apt-get install ffmpeg"), why);
        }
    }
}
