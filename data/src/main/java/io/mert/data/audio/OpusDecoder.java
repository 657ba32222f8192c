package io.mert.data.audio;

import io.github.jaredmdobson.concentus.OpusException;
import io.github.jaredmdobson.concentus.OpusMSDecoder;

import java.nio.file.Path;

/**
 * Ogg Opus (RFC 7845) through Concentus (pure Java, BSD; a port of libopus's fixed-point decoder, so
 * its output has 16-bit resolution), with JOrbis's Ogg layer. Decodes at 48 kHz, Opus's native rate,
 * whatever input rate the header records. The output follows the RFC's playback rules: the
 * header's pre-skip is dropped, the end is trimmed to the last page's granule position, and the
 * header's output gain is applied (in float, so a positive gain cannot clip).
 *
 * <p>Channel mapping families 0 (mono/stereo) and 1 (up to 8 channels, Vorbis order) are decoded;
 * other families (ambisonics, 255) raise {@link UnsupportedAudioFeatureException}, which sends
 * the file to ffmpeg when it is installed.
 */
public final class OpusDecoder implements AudioDecoder {
    static final int RATE = 48000;
    /** The longest Opus packet: 120 ms. */
    private static final int MAX_PACKET_FRAMES = 5760;

    /** The identification header (RFC 7845 section 5.1). */
    record Head(int channels, int preSkip, int outputGainQ8, int family, int streams, int coupled, short[] mapping) {
        double gain() { return Math.pow(10, outputGainQ8 / (20.0 * 256)); }
    }

    @Override
    public AudioFormat format() { return AudioFormat.OGG_OPUS; }

    @Override
    public DecodedAudio decode(Path file, byte[] bytes, double maxSeconds) throws AudioFormatException {
        try {
            return run(file, bytes, maxSeconds);
        } catch (RuntimeException | OutOfMemoryError e) {
            // Concentus and jogg report some malformed packets only by failing (index out of bounds)
            throw new AudioFormatException(file + ": corrupt Ogg Opus data (" + e + ")", e);
        }
    }

    static Head parseHead(Path file, byte[] p) throws AudioFormatException {
        if (p.length < 19 || !AudioFormat.startsWith(p, 0, "OpusHead"))
            throw new AudioFormatException(file + ": the first Ogg packet is not an OpusHead header");
        int version = p[8] & 0xFF;
        if ((version & 0xF0) != 0)
            throw UnsupportedAudioFeatureException.in(file, "Ogg Opus header version " + version);
        int channels = p[9] & 0xFF;
        int preSkip = (p[10] & 0xFF) | (p[11] & 0xFF) << 8;
        int gain = (short) ((p[16] & 0xFF) | (p[17] & 0xFF) << 8);
        int family = p[18] & 0xFF;
        if (channels == 0) throw new AudioFormatException(file + ": OpusHead declares 0 channels");
        if (family == 0) {
            if (channels > 2) throw new AudioFormatException(file + ": OpusHead mapping family 0 with " + channels + " channels (at most 2)");
            return new Head(channels, preSkip, gain, 0, 1, channels - 1, channels == 1 ? new short[] {0} : new short[] {0, 1});
        }
        if (family != 1)
            throw UnsupportedAudioFeatureException.in(file, "Ogg Opus with channel mapping family " + family
                    + " (only 0 and 1 are decoded here)");
        if (channels > 8) throw new AudioFormatException(file + ": OpusHead mapping family 1 with " + channels + " channels (at most 8)");
        if (p.length < 21 + channels) throw new AudioFormatException(file + ": OpusHead too short for its channel mapping table");
        int streams = p[19] & 0xFF, coupled = p[20] & 0xFF;
        if (streams == 0 || coupled > streams || streams + coupled > 255)
            throw new AudioFormatException(file + ": OpusHead has " + streams + " streams, " + coupled + " coupled: invalid");
        short[] mapping = new short[channels];
        for (int c = 0; c < channels; c++) {
            mapping[c] = (short) (p[21 + c] & 0xFF);
            if (mapping[c] != 255 && mapping[c] >= streams + coupled)
                throw new AudioFormatException(file + ": OpusHead maps channel " + c + " to stream channel " + mapping[c]
                        + " of " + (streams + coupled));
        }
        return new Head(channels, preSkip, gain, 1, streams, coupled, mapping);
    }

    private static DecodedAudio run(Path file, byte[] bytes, double maxSeconds) throws AudioFormatException {
        OggPackets ogg = new OggPackets(file, bytes);
        byte[] first = ogg.next();
        if (first == null) throw new AudioFormatException(file + ": truncated: no OpusHead header");
        Head head = parseHead(file, first);
        byte[] tags = ogg.next();
        if (tags == null) throw new AudioFormatException(file + ": truncated: no OpusTags header");
        if (!AudioFormat.startsWith(tags, 0, "OpusTags"))
            throw new AudioFormatException(file + ": the second Ogg packet is not an OpusTags header");
        OpusMSDecoder decoder;
        try {
            decoder = OpusMSDecoder.create(RATE, head.channels(), head.streams(), head.coupled(), head.mapping());
        } catch (OpusException e) {
            throw new AudioFormatException(file + ": Opus decoder rejects the header (" + e.getMessage() + ")", e);
        }
        PcmBuffer pcm = new PcmBuffer(file, head.channels(), RATE, maxSeconds + head.preSkip() / (double) RATE);
        short[] out = new short[MAX_PACKET_FRAMES * head.channels()];
        int ch = head.channels();
        long start = Long.MIN_VALUE; // granule position of decoded sample 0
        byte[] packet;
        while ((packet = ogg.next()) != null) {
            if (packet.length == 0) throw new AudioFormatException(file + ": empty Opus packet after sample " + pcm.frames());
            int n = decoder.decodeMultistream(packet, 0, packet.length, out, 0, MAX_PACKET_FRAMES, 0);
            if (n < 0) throw new AudioFormatException(file + ": undecodable Opus packet after sample " + pcm.frames() + " (error " + n + ")");
            float[][] dst = pcm.reserve(n);
            int at = pcm.frames();
            for (int i = 0; i < n; i++)
                for (int c = 0; c < ch; c++) dst[c][at + i] = out[i * ch + c] / 32768f;
            pcm.commit(n);
            long g = ogg.granuleIfLastOnPage();
            // the first page that completes audio fixes where decoded sample 0 sits; a stream cut from a
            // longer one starts above 0 (RFC 7845 section 4)
            if (g >= 0 && start == Long.MIN_VALUE && !ogg.onEndPage()) start = Math.max(0, g - pcm.frames());
        }
        if (pcm.frames() == 0) throw new AudioFormatException(file + ": Ogg Opus stream holds no audio");
        if (start == Long.MIN_VALUE) start = 0;
        long last = ogg.lastGranule();
        long skip = head.preSkip() - start;
        long end = last >= 0 ? last - start : pcm.frames();
        if (end < skip) throw new AudioFormatException(file + ": last granule position " + last + " lies before the pre-skip "
                + head.preSkip() + ": no audio to play");
        long keep = Math.min(end, pcm.frames()) - Math.max(0, skip);
        if (keep > maxSeconds * RATE)
            throw new AudioFormatException(file + ": longer than the limit of " + maxSeconds + " s; split the file or raise the limit");
        float[][] channels = pcm.trimmed(skip, keep);
        if (head.outputGainQ8() != 0) {
            float g = (float) head.gain();
            for (float[] c : channels) for (int i = 0; i < c.length; i++) c[i] *= g;
        }
        return new DecodedAudio(AudioFormat.OGG_OPUS, channels, RATE, 0);
    }
}
