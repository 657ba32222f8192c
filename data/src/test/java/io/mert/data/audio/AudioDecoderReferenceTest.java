package io.mert.data.audio;

import io.mert.data.WavFile;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Our decoders against the reference tools' decodes of the same files (tools/reference/make_audio_fixtures.py):
 * FLAC bit for bit against {@code flac -d}; Vorbis against {@code oggdec}; MP3 against the encoder's input
 * (gapless) and against {@code sox}'s decode, which keeps the delay and the Xing frame.
 */
class AudioDecoderReferenceTest {
    private static final Logger LOG = LoggerFactory.getLogger(AudioDecoderReferenceTest.class);
    /** Lossy decoders must agree with the reference decoder to at least this SNR. */
    static final double LOSSY_MIN_SNR_DB = 40;

    private static DecodedAudio decode(String name) throws IOException {
        return AudioDecoders.decode(Fixtures.resource("audio/" + name));
    }

    private static WavFile.Pcm wav(String name) throws IOException {
        Path p = Fixtures.resource("audio/" + name);
        return WavFile.read(p, Files.readAllBytes(p));
    }

    @Test
    void flacIsBitExactAgainstTheReferenceDecoder() throws IOException {
        for (String name : new String[] {"chord44s", "chord22m", "chord24bit", "edge22s"}) {
            DecodedAudio got = decode(name + ".flac");
            WavFile.Pcm ref = wav(name + ".wav");
            assertEquals(AudioFormat.FLAC, got.format());
            assertEquals(ref.info().sampleRate(), got.sampleRate(), name);
            assertEquals(ref.info().channels(), got.channelCount(), name);
            assertEquals(ref.info().encoding().bytes() * 8, got.bitsPerSample(), name);
            // both sides scale the same integers by 2^-(bits-1): equal floats mean equal samples
            for (int c = 0; c < got.channelCount(); c++) assertArrayEquals(ref.channels()[c], got.channels()[c], name + " channel " + c);
        }
    }

    @Test
    void vorbisMatchesOggdec() throws IOException {
        for (String name : new String[] {"chord44s", "chord22m"}) {
            DecodedAudio got = decode(name + ".ogg");
            WavFile.Pcm ref = wav(name + ".ogg.wav");
            WavFile.Pcm source = wav(name + ".wav");
            assertEquals(ref.info().sampleRate(), got.sampleRate());
            assertEquals(ref.info().channels(), got.channelCount());
            // the last page's granule position trims the final block: same length as oggdec and as the input
            assertEquals(ref.info().frames(), got.frames(), name + " length");
            assertEquals(source.info().frames(), got.frames(), name + " length vs encoder input");
            double snr = Fixtures.snrDb(ref.channels(), got.channels(), 0);
            double codec = Fixtures.snrDb(source.channels(), got.channels(), 0);
            LOG.info("{}.ogg: SNR vs oggdec {} dB; vs encoder input {} dB", name, fmt(snr), fmt(codec));
            assertTrue(snr >= LOSSY_MIN_SNR_DB, name + ".ogg vs oggdec: " + snr + " dB");
            assertEquals(0, Fixtures.bestLag(source.channels()[0], got.channels()[0], 2000), name + ": output not aligned with the input");
        }
    }

    @Test
    void mp3IsGaplessAndMatchesSox() throws IOException {
        for (String name : new String[] {"chord44s", "chord22m"}) {
            DecodedAudio got = decode(name + ".mp3");
            WavFile.Pcm source = wav(name + ".wav");
            WavFile.Pcm sox = wav(name + ".mp3.sox.wav");
            assertEquals(source.info().sampleRate(), got.sampleRate());
            assertEquals(source.info().channels(), got.channelCount());
            // LAME delay/padding removed: exactly the encoder's input length, and no time shift
            assertEquals(source.info().frames(), got.frames(), name + " length vs encoder input");
            assertEquals(0, Fixtures.bestLag(source.channels()[0], got.channels()[0], 3000), name + ": output not aligned with the input");
            double codec = Fixtures.snrDb(source.channels(), got.channels(), 0);

            // sox (libmad) trims nothing: its output starts with the silent Xing frame, then the encoder
            // delay (576) and the decoder delay (529)
            byte[] bytes = Files.readAllBytes(Fixtures.resource("audio/" + name + ".mp3"));
            MpegHeader h = MpegHeader.parse(bytes, Id3v2.skip(bytes));
            LameTag tag = LameTag.parse(bytes, Id3v2.skip(bytes), h);
            assertNotNull(tag, "LAME writes a Xing/Info frame");
            assertEquals(576, tag.delay(), "LAME 3.100's encoder delay");
            int expectedLag = h.samplesPerFrame() + tag.delay() + Mp3Decoder.DECODER_DELAY;
            int lag = Fixtures.bestLag(sox.channels()[0], got.channels()[0], 4000);
            assertEquals(expectedLag, lag, name + ": offset of sox's decode");
            double snr = Fixtures.snrDb(sox.channels(), got.channels(), lag);
            LOG.info("{}.mp3: sox offset {} samples ({} + {} + {}); SNR vs sox {} dB; vs encoder input {} dB", name, lag,
                    h.samplesPerFrame(), tag.delay(), Mp3Decoder.DECODER_DELAY, fmt(snr), fmt(codec));
            assertTrue(snr >= LOSSY_MIN_SNR_DB, name + ".mp3 vs sox: " + snr + " dB");
        }
    }

    @Test
    void monoIsTheMeanOfTheChannels() throws IOException {
        DecodedAudio a = decode("chord44s.flac");
        float[] m = a.mono();
        assertEquals(a.frames(), m.length);
        for (int i = 0; i < m.length; i += 97)
            assertEquals((a.channels()[0][i] + (double) a.channels()[1][i]) / 2, m[i], 1e-7);
        // and WavFile's own mono reader agrees on the reference decode
        assertArrayEquals(WavFile.readMono(Fixtures.resource("audio/chord44s.wav")).samples(), m);
    }

    private static String fmt(double v) {
        return String.format(java.util.Locale.ROOT, "%.1f", v);
    }
}
