package io.mert.data.audio;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Ogg Opus through Concentus against libopus's {@code opusdec --rate 48000 --no-dither} on real music
 * (tools/reference/make_codec_fixtures.sh). Concentus ports libopus's fixed-point decoder and opusdec
 * runs the float build, so the two differ by a few 16-bit steps: measured 3-4 LSB at most and
 * 69.3-69.9 dB SNR on the three fixtures; the tests allow 8 LSB and 65 dB. Length and alignment
 * (pre-skip dropped, end trimmed by the granule position) must match exactly.
 */
class OpusDecoderReferenceTest {
    private static final Logger LOG = LoggerFactory.getLogger(OpusDecoderReferenceTest.class);
    static final double MIN_SNR_DB = 65;
    static final double MAX_LSB = 8;

    private static DecodedAudio opus(Path p) throws IOException {
        return AudioDecoders.decode(p, AudioDecoders.DEFAULT_MAX_SECONDS, new AudioDecoders.Fallback.None());
    }

    @Test
    void matchesOpusdecOnStereoMonoAndFourChannelFiles() throws IOException {
        // stereo and mono use channel mapping family 0, the 4-channel file family 1 (2 streams, 2 coupled)
        for (String name : new String[] {"music48s", "music48m", "music48q"}) {
            DecodedAudio got = opus(Fixtures.resource("audio/" + name + ".opus"));
            DecodedAudio ref = AudioDecoders.decode(Fixtures.resource("audio/" + name + ".opus.flac"));
            assertEquals(AudioFormat.OGG_OPUS, got.format());
            assertEquals(48000, got.sampleRate(), name);
            assertEquals(ref.channelCount(), got.channelCount(), name);
            assertEquals(ref.frames(), got.frames(), name + ": length after pre-skip and end trimming");
            assertEquals(0, Fixtures.bestLag(ref.channels()[0], got.channels()[0], 1000), name + ": not aligned with opusdec");
            double maxLsb = 0;
            for (int c = 0; c < got.channelCount(); c++)
                for (int i = 0; i < got.frames(); i++) maxLsb = Math.max(maxLsb, Math.abs(got.channels()[c][i] - ref.channels()[c][i]) * 32768);
            double snr = Fixtures.snrDb(ref.channels(), got.channels(), 0);
            LOG.info("{}.opus ({} ch): SNR vs opusdec {} dB, largest difference {} LSB", name, got.channelCount(),
                    String.format(java.util.Locale.ROOT, "%.1f", snr), maxLsb);
            assertTrue(snr >= MIN_SNR_DB, name + ": " + snr + " dB");
            assertTrue(maxLsb <= MAX_LSB, name + ": " + maxLsb + " LSB");
        }
    }

    /** The first page of the stereo fixture, with the OpusHead field at {@code offset} (from "OpusHead") set to {@code value}. */
    private static byte[] withHeadField(int offset, int value, int bytes) throws IOException {
        byte[] b = Files.readAllBytes(Fixtures.resource("audio/music48s.opus"));
        int body = AudioFormat.firstOggBody(b);
        assertTrue(AudioFormat.startsWith(b, body, "OpusHead"));
        for (int i = 0; i < bytes; i++) b[body + offset + i] = (byte) (value >> (8 * i));
        OggCrc.fix(b, 0);
        return b;
    }

    @Test
    void outputGainIsApplied(@TempDir Path tmp) throws IOException {
        DecodedAudio plain = opus(Fixtures.resource("audio/music48s.opus"));
        for (int q8 : new int[] {-1536, 1536}) { // -6 and +6 dB in Q7.8
            Path f = tmp.resolve("gain" + q8 + ".opus");
            Files.write(f, withHeadField(16, q8, 2));
            DecodedAudio gained = opus(f);
            assertEquals(plain.frames(), gained.frames());
            double e0 = 0, e1 = 0;
            for (int c = 0; c < 2; c++)
                for (int i = 0; i < plain.frames(); i++) {
                    e0 += plain.channels()[c][i] * (double) plain.channels()[c][i];
                    e1 += gained.channels()[c][i] * (double) gained.channels()[c][i];
                }
            // RFC 7845 5.1: the gain is 20*log10 of the sample factor, in 1/256 dB; applied in float, so +6 dB does not clip
            assertEquals(q8 / 256.0, 10 * Math.log10(e1 / e0), 1e-4, "gain " + q8);
        }
    }

    @Test
    void otherMappingFamiliesAreUnsupportedAndNameTheFamily(@TempDir Path tmp) throws IOException {
        Path f = tmp.resolve("family2.opus");
        Files.write(f, withHeadField(18, 2, 1));
        AudioFormatException e = assertThrows(AudioFormatException.class, () -> opus(f));
        assertInstanceOf(UnsupportedAudioFeatureException.class, e);
        assertTrue(e.getMessage().contains("mapping family 2") && e.getMessage().contains("apt-get install ffmpeg")
                && e.getMessage().contains(f.toString()), e.getMessage());
    }

    @Test
    void truncatedFileIsReportedAsTruncated(@TempDir Path tmp) throws IOException {
        byte[] b = Files.readAllBytes(Fixtures.resource("audio/music48s.opus"));
        Path f = tmp.resolve("cut.opus");
        Files.write(f, java.util.Arrays.copyOf(b, b.length / 2));
        AudioFormatException e = assertThrows(AudioFormatException.class, () -> opus(f));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }
}
