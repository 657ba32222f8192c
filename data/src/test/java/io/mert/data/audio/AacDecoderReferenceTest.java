package io.mert.data.audio;

import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The pure-Java AAC path (JAAD, used when ffmpeg is absent) against ffmpeg's own decode of real music
 * encoded by ffmpeg's AAC encoder with PNS off (tools/reference/make_codec_fixtures.sh).
 *
 * <p>Measured: 65.9 dB SNR over the 2 s excerpt; every frame within 1 LSB except two consecutive
 * frames of one channel (largest difference 104 LSB, 47 dB in that frame) where JAAD's temporal noise
 * shaping departs from ffmpeg's (with TNS off in the encoder, 85 dB and 1 LSB throughout). The test
 * requires 60 dB over the file.
 */
class AacDecoderReferenceTest {
    private static final Logger LOG = LoggerFactory.getLogger(AacDecoderReferenceTest.class);
    static final double MIN_SNR_DB = 60;
    /** The excerpt the fixtures were encoded from: 1.978 s at 44.1 kHz (see the fixture script). */
    static final int SOURCE_FRAMES = 87232;

    private static DecodedAudio jaad(String name) throws IOException {
        return AudioDecoders.decode(Fixtures.resource("audio/" + name), AudioDecoders.DEFAULT_MAX_SECONDS, new AudioDecoders.Fallback.None());
    }

    @Test
    void m4aMatchesFfmpegAndIsTrimmedToTheEncoderInput() throws IOException {
        DecodedAudio got = jaad("music44s.m4a");
        DecodedAudio ref = AudioDecoders.decode(Fixtures.resource("audio/music44s.m4a.flac"));
        assertEquals(AudioFormat.MP4_AAC, got.format());
        assertEquals(44100, got.sampleRate());
        assertEquals(2, got.channelCount());
        // the edit list drops the 1024 priming samples, the sample table's duration the last frame's
        // padding; ffmpeg 5.1 honours the first but keeps the padding (its decode is 832 samples longer)
        assertEquals(SOURCE_FRAMES, got.frames(), "length vs encoder input");
        assertTrue(ref.frames() >= got.frames(), "ffmpeg's decode is shorter: " + ref.frames());
        assertEquals(0, Fixtures.bestLag(ref.channels()[0], got.channels()[0], 3000), "not aligned with ffmpeg's decode");
        double snr = Fixtures.snrDb(ref.channels(), got.channels(), 0);
        LOG.info("music44s.m4a through JAAD: SNR vs ffmpeg {} dB", String.format(Locale.ROOT, "%.1f", snr));
        assertTrue(snr >= MIN_SNR_DB, snr + " dB");
    }

    @Test
    void adtsHoldsTheSameFramesWithThePrimingInFront() throws IOException {
        DecodedAudio m4a = jaad("music44s.m4a");
        DecodedAudio adts = jaad("music44s.aac");
        assertEquals(AudioFormat.ADTS_AAC, adts.format());
        assertEquals(44100, adts.sampleRate());
        // ADTS records no priming or padding: every frame of 1024 samples comes out
        assertEquals(0, adts.frames() % 1024);
        assertTrue(adts.frames() >= m4a.frames() + 1024);
        for (int c = 0; c < 2; c++)
            for (int i = 0; i < m4a.frames(); i++)
                assertEquals(m4a.channels()[c][i], adts.channels()[c][i + 1024], "channel " + c + " sample " + i);
    }

    @Test
    void pnsIsRefusedWithAnErrorThatNamesIt() {
        // ffmpeg's encoder with its defaults uses perceptual noise substitution, which JAAD decodes to silence
        Path f = Fixtures.resource("audio/music44pns.m4a");
        AudioFormatException e = assertThrows(AudioFormatException.class,
                () -> AudioDecoders.decode(f, AudioDecoders.DEFAULT_MAX_SECONDS, new AudioDecoders.Fallback.None()));
        assertInstanceOf(UnsupportedAudioFeatureException.class, e);
        assertTrue(e.getMessage().contains("perceptual noise substitution") && e.getMessage().contains("apt-get install ffmpeg")
                && e.getMessage().contains(f.toString()), e.getMessage());
    }
}
