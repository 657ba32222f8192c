package io.mert.data;

import io.mert.data.audio.AudioDecoders;
import io.mert.data.audio.DecodedAudio;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Our resampler against {@code sox rate -v 24000} on a chord plus a chirp up to 45% of the input rate
 * (tools/reference/make_audio_fixtures.py). The error is measured in the band both resamplers must pass
 * unchanged, below 90% of the lower Nyquist frequency, on a Hann-windowed stretch that leaves out 50 ms
 * at each end (where the two filters see different zero padding).
 */
class ResamplerSoxReferenceTest {
    private static final Logger LOG = LoggerFactory.getLogger(ResamplerSoxReferenceTest.class);
    static final double MIN_BAND_SNR_DB = 60;
    static final double BAND = 0.9;

    @Test
    void matchesSoxVeryHighQuality() throws IOException, URISyntaxException {
        for (int rate : new int[] {16000, 22050, 44100}) {
            float[] in = mono("audio/resample_" + rate + ".wav");
            DecodedAudio sox = AudioDecoders.decode(path("audio/resample_" + rate + "_to_24000.sox.wav"));
            assertEquals(24000, sox.sampleRate());
            float[] ref = sox.channels()[0];
            float[] ours = Resampler.resample(in, rate, 24000);
            assertEquals(ref.length, ours.length, rate + " Hz: output length");
            double band = BAND * Math.min(rate, 24000) / 2.0;
            double snr = bandSnrDb(ref, ours, 24000, band, 1200);
            double whole = 10 * Math.log10(energy(ref, 1200) / diffEnergy(ref, ours, 1200));
            LOG.info("{} -> 24000 Hz vs sox -v: SNR below {} Hz {} dB (full band, unwindowed {} dB)", rate,
                    Math.round(band), String.format(Locale.ROOT, "%.1f", snr), String.format(Locale.ROOT, "%.1f", whole));
            assertTrue(snr >= MIN_BAND_SNR_DB, rate + " Hz: in-band SNR " + snr + " dB vs sox");
        }
    }

    /** Power of ref over power of (ours - ref), both Hann windowed over [edge, n - edge), in bins below {@code bandHz}. */
    static double bandSnrDb(float[] ref, float[] ours, int rate, double bandHz, int edge) {
        return BandSnr.db(ref, ours, rate, bandHz, edge);
    }

    private static double energy(float[] x, int edge) {
        double s = 0;
        for (int i = edge; i < x.length - edge; i++) s += x[i] * (double) x[i];
        return s;
    }

    private static double diffEnergy(float[] a, float[] b, int edge) {
        double s = 0;
        for (int i = edge; i < a.length - edge; i++) s += (a[i] - (double) b[i]) * (a[i] - (double) b[i]);
        return s;
    }

    private static float[] mono(String name) throws IOException, URISyntaxException {
        return WavFile.readMono(path(name)).samples();
    }

    private static Path path(String name) throws URISyntaxException {
        return Path.of(ResamplerSoxReferenceTest.class.getResource("/" + name).toURI());
    }
}
