package io.mert.data.audio;

import net.sourceforge.jaad.aac.AACException;
import net.sourceforge.jaad.aac.Decoder;
import net.sourceforge.jaad.aac.Profile;
import net.sourceforge.jaad.aac.SampleBuffer;

import java.nio.file.Path;

/**
 * AAC-LC through JAAD as JCodec ships it (pure Java; JAAD is public domain, JCodec's changes FreeBSD),
 * used when ffmpeg is not installed ({@link AudioDecoders} prefers ffmpeg for AAC). JAAD writes 16-bit
 * PCM, so the output has 16-bit resolution. Streams that use perceptual noise substitution, which
 * JAAD decodes wrongly ({@link JaadPnsGuard}), and profiles other than AAC-LC, HE-AAC (SBR/PS)
 * included (no reference here to check JAAD's against), raise {@link UnsupportedAudioFeatureException}.
 * Where JAAD's temporal noise shaping is used it departs from ffmpeg's by up to ~100 LSB in a
 * frame (AacDecoderReferenceTest); JAAD also throws on some valid loud frames (an off-by-one at the
 * largest quantised value), reported as an error that recommends ffmpeg.
 *
 * <p>{@link AudioFormat#MP4_AAC}: the first audio track of an MP4/M4A file ({@link Mp4AudioTrack};
 * JCodec's own demuxer allocates whatever a forged box size asks for). Its edit list removes
 * the encoder's priming samples (1024 for most encoders) and the sample table's total duration
 * trims the padding of the last frame, so the output lines up with the encoder's input. A track
 * that is not AAC (ALAC, AC-3...) or an AAC profile JAAD cannot decode raises
 * {@link UnsupportedAudioFeatureException}, which sends the file to ffmpeg when installed.
 *
 * <p>{@link AudioFormat#ADTS_AAC}: a bare stream of ADTS frames. ADTS records no priming, so, like
 * every decoder, the output begins with the encoder delay.
 */
public final class AacDecoder implements AudioDecoder {
    private final AudioFormat format;

    AacDecoder(AudioFormat format) {
        if (format != AudioFormat.MP4_AAC && format != AudioFormat.ADTS_AAC) throw new IllegalArgumentException(format.name());
        this.format = format;
    }

    @Override
    public AudioFormat format() { return format; }

    @Override
    public DecodedAudio decode(Path file, byte[] bytes, double maxSeconds) throws AudioFormatException {
        try {
            return format == AudioFormat.MP4_AAC ? mp4(file, bytes, maxSeconds) : adts(file, bytes, maxSeconds);
        } catch (RuntimeException | OutOfMemoryError e) {
            // JAAD reports many malformed frames only by failing (index out of bounds...), and also fails on
            // some valid ones (an off-by-one at the largest quantised value, 8191)
            throw new AudioFormatException(file + ": could not decode " + label() + " data (" + e + "): the file is corrupt or hits a"
                    + " defect of JAAD; ffmpeg decodes AAC exactly: " + FfmpegDecoder.INSTALL_HINT, e);
        }
    }

    private String label() { return format == AudioFormat.MP4_AAC ? "MP4/AAC" : "ADTS AAC"; }

    private static DecodedAudio mp4(Path file, byte[] bytes, double maxSeconds) throws AudioFormatException {
        Mp4AudioTrack track = Mp4AudioTrack.read(file, bytes);
        if (!"mp4a".equals(track.codec()))
            throw UnsupportedAudioFeatureException.in(file, "MP4 audio with codec '" + track.codec() + "'"
                    + ("alac".equals(track.codec()) ? " (Apple Lossless)" : ""));
        int ot = track.objectType();
        if (ot == 0) throw new AudioFormatException(file + ": MP4 'mp4a' track without a decoder configuration (esds)");
        if (ot != 0x40 && ot != 0x66 && ot != 0x67 && ot != 0x68)
            throw UnsupportedAudioFeatureException.in(file, "MP4 'mp4a' audio with object type 0x" + Integer.toHexString(ot)
                    + (ot == 0x69 || ot == 0x6B ? " (MP3)" : " (not AAC)"));
        if (track.config() == null || track.config().length < 2)
            throw new AudioFormatException(file + ": MP4 AAC track without an AudioSpecificConfig in its esds box");
        JaadStream s = new JaadStream(file, track.config(), maxSeconds);
        long[] offsets = track.offsets();
        int[] sizes = track.sizes();
        for (int i = 0; i < sizes.length; i++)
            s.decode(java.util.Arrays.copyOfRange(bytes, (int) offsets[i], (int) offsets[i] + sizes[i]));
        if (s.pcm == null) throw new AudioFormatException(file + ": MP4 AAC track holds no audio frames");
        // media ticks -> output samples (they differ when the timescale is not the sample rate)
        double perTick = s.rate / (double) track.timescale();
        long skip = Math.round(track.editStart() * perTick);
        long keep = Math.round(track.duration() * perTick) - skip;
        if (track.editLength() > 0 && track.movieScale() > 0) {
            // the edit's length is in the movie's timescale (often ms): only trust it when it cuts more than its rounding
            long byEdit = (long) Math.ceil(track.editLength() * (double) s.rate / track.movieScale());
            if (byEdit < keep - Math.ceil(s.rate / (double) track.movieScale())) keep = byEdit;
        }
        return capped(file, new DecodedAudio(AudioFormat.MP4_AAC, s.pcm.trimmed(skip, keep), s.rate, 0), maxSeconds);
    }

    /** The decode buffer allows a frame of slack for the priming; the result itself must respect the cap. */
    private static DecodedAudio capped(Path file, DecodedAudio a, double maxSeconds) throws AudioFormatException {
        if (a.frames() > maxSeconds * a.sampleRate())
            throw new AudioFormatException(file + ": longer than the limit of " + maxSeconds + " s; split the file or raise the limit");
        return a;
    }

    private static DecodedAudio adts(Path file, byte[] bytes, double maxSeconds) throws AudioFormatException {
        int pos = Id3v2.skip(bytes);
        int tagEnd = pos;
        while (pos < bytes.length && pos < tagEnd + 4096 && bytes[pos] == 0) pos++;
        AdtsHeader first = AdtsHeader.parse(bytes, pos);
        if (first == null) throw new AudioFormatException(file + ": no ADTS frame header at byte " + pos);
        if (first.channelConfig() == 0)
            throw UnsupportedAudioFeatureException.in(file, "ADTS AAC with its channel layout in the stream (channel configuration 0)");
        JaadStream s = new JaadStream(file, first.audioSpecificConfig(), maxSeconds);
        int frames = 0;
        while (pos < bytes.length) {
            AdtsHeader h = AdtsHeader.parse(bytes, pos);
            if (h == null) {
                // an ID3v1 tag ("TAG", 128 bytes) or APE tag may follow the last frame
                if (frames > 0 && (AudioFormat.startsWith(bytes, pos, "TAG") || AudioFormat.startsWith(bytes, pos, "APETAGEX"))) break;
                throw new AudioFormatException(file + ": lost ADTS frame sync at byte " + pos + " after " + frames + " frames");
            }
            if (h.frequencyIndex() != first.frequencyIndex() || h.channelConfig() != first.channelConfig() || h.objectType() != first.objectType())
                throw new AudioFormatException(file + ": ADTS frame " + frames + " changes the stream's format");
            if (h.rawBlocks() != 0)
                throw UnsupportedAudioFeatureException.in(file, "ADTS AAC with several raw data blocks per frame");
            if (pos + h.frameLength() > bytes.length)
                throw new AudioFormatException(file + ": truncated: ADTS frame " + frames + " needs " + h.frameLength()
                        + " bytes, " + (bytes.length - pos) + " remain");
            byte[] raw = new byte[h.frameLength() - h.headerLength()];
            System.arraycopy(bytes, pos + h.headerLength(), raw, 0, raw.length);
            s.decode(raw);
            pos += h.frameLength();
            frames++;
        }
        if (s.pcm == null) throw new AudioFormatException(file + ": ADTS stream holds no audio frames");
        return capped(file, new DecodedAudio(AudioFormat.ADTS_AAC, s.pcm.all(), s.rate, 0), maxSeconds);
    }

    /** JAAD fed frame by frame into a {@link PcmBuffer}; the rate and channels come from the first decoded frame. */
    private static final class JaadStream {
        private static final byte[] EMPTY = {};

        static {
            // JCodec's own logger prints to stdout; the one warning JAAD gives (a frame that ends early) becomes an error here
            org.jcodec.common.logging.Logger.setLevel(org.jcodec.common.logging.LogLevel.ERROR);
        }

        private final Path file;
        private final double maxSeconds;
        private final Decoder decoder;
        private final SampleBuffer out = new SampleBuffer();
        PcmBuffer pcm;
        int rate, channels;

        JaadStream(Path file, byte[] audioSpecificConfig, double maxSeconds) throws AudioFormatException {
            this.file = file;
            this.maxSeconds = maxSeconds;
            if (!JaadPnsGuard.available())
                throw UnsupportedAudioFeatureException.in(file, "AAC (this JAAD build cannot be checked for its PNS defect)");
            try {
                decoder = new Decoder(audioSpecificConfig);
            } catch (AACException e) {
                String m = String.valueOf(e.getMessage());
                if (m.contains("unsupported profile") || m.contains("not supported"))
                    throw UnsupportedAudioFeatureException.in(file, "AAC with " + m);
                throw new AudioFormatException(file + ": invalid AAC decoder configuration (" + m + ")", e);
            }
            Profile profile = decoder.getConfig().getProfile();
            if (profile != Profile.AAC_LC)
                throw UnsupportedAudioFeatureException.in(file, "AAC profile " + profile.getDescription()
                        + " (only AAC-LC is decoded here)");
            out.setBigEndian(false);
        }

        void decode(byte[] frame) throws AudioFormatException {
            // JAAD returns without output (and logs a warning) when a frame ends early: an empty buffer shows it
            out.setData(EMPTY, 0, 0, 0, 0);
            try {
                if (!JaadPnsGuard.decodeFrame(decoder, frame, out))
                    throw UnsupportedAudioFeatureException.in(file, "AAC with perceptual noise substitution (PNS), which JAAD decodes wrongly,");
            } catch (AACException e) {
                throw new AudioFormatException(file + ": JAAD could not decode the AAC frame after sample " + (pcm == null ? 0 : pcm.frames())
                        + " (" + e.getMessage() + "): the file is corrupt or hits a defect of JAAD; ffmpeg decodes AAC exactly: "
                        + FfmpegDecoder.INSTALL_HINT, e);
            }
            if (out.getData().length == 0)
                throw new AudioFormatException(file + ": corrupt AAC frame after sample " + (pcm == null ? 0 : pcm.frames())
                        + ": its data ends before its last element");
            if (decoder.getConfig().isSBRPresent())
                throw UnsupportedAudioFeatureException.in(file, "HE-AAC (SBR)");
            if (out.getBitsPerSample() != 16) throw new AudioFormatException(file + ": JAAD wrote " + out.getBitsPerSample() + "-bit samples");
            if (pcm == null) {
                rate = out.getSampleRate();
                channels = out.getChannels();
                if (rate <= 0 || channels <= 0)
                    throw new AudioFormatException(file + ": AAC stream decodes to " + channels + " channels at " + rate + " Hz");
                pcm = new PcmBuffer(file, channels, rate, maxSeconds + 4096.0 / rate);
            } else if (out.getSampleRate() != rate || out.getChannels() != channels) {
                throw new AudioFormatException(file + ": AAC stream changes from " + channels + " channels at " + rate + " Hz to "
                        + out.getChannels() + " at " + out.getSampleRate());
            }
            byte[] d = out.getData();
            int n = d.length / (2 * channels);
            float[][] dst = pcm.reserve(n);
            int at = pcm.frames();
            for (int i = 0; i < n; i++)
                for (int c = 0; c < channels; c++) {
                    int k = 2 * (i * channels + c);
                    dst[c][at + i] = (short) ((d[k] & 0xFF) | d[k + 1] << 8) / 32768f;
                }
            pcm.commit(n);
        }
    }
}
