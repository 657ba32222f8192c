package io.mert.data.audio;

import net.sourceforge.jaad.aac.AACException;
import net.sourceforge.jaad.aac.Decoder;
import net.sourceforge.jaad.aac.Profile;
import net.sourceforge.jaad.aac.SampleBuffer;
import org.jcodec.codecs.aac.AACUtils;
import org.jcodec.common.DemuxerTrack;
import org.jcodec.common.io.ByteBufferSeekableByteChannel;
import org.jcodec.common.model.Packet;
import org.jcodec.containers.mp4.boxes.Edit;
import org.jcodec.containers.mp4.demuxer.AbstractMP4DemuxerTrack;
import org.jcodec.containers.mp4.demuxer.MP4Demuxer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;

/**
 * AAC through JAAD as JCodec ships it (pure Java; JAAD is public domain, JCodec's changes and its
 * MP4 demuxer FreeBSD). JAAD writes 16-bit PCM, so the output has 16-bit resolution. Streams that use
 * perceptual noise substitution, which JAAD decodes wrongly ({@link JaadPnsGuard}), and profiles
 * other than AAC-LC, HE-AAC (SBR/PS) included (no reference here to check JAAD's against), raise {@link UnsupportedAudioFeatureException}.
 *
 * <p>{@link AudioFormat#MP4_AAC}: the first audio track of an MP4/M4A file. Its edit list removes
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
        } catch (IOException | RuntimeException | OutOfMemoryError e) {
            if (e instanceof AudioFormatException a) throw a;
            // JCodec's demuxer and JAAD report many malformed boxes and frames only by failing, and JAAD
            // also fails on some valid files (e.g. an off-by-one at the largest quantised value, 8191)
            throw new AudioFormatException(file + ": could not decode " + label() + " data (" + e + "): the file is corrupt or hits a"
                    + " defect of JCodec/JAAD; ffmpeg decodes AAC exactly: " + FfmpegDecoder.INSTALL_HINT, e);
        }
    }

    private String label() { return format == AudioFormat.MP4_AAC ? "MP4/AAC" : "ADTS AAC"; }

    private static DecodedAudio mp4(Path file, byte[] bytes, double maxSeconds) throws IOException {
        // "raw": the plain demuxer prepends an ADTS header to every AAC packet
        MP4Demuxer demuxer = MP4Demuxer.createRawMP4Demuxer(new ByteBufferSeekableByteChannel(ByteBuffer.wrap(bytes), bytes.length));
        List<DemuxerTrack> audio = demuxer.getAudioTracks();
        if (audio.isEmpty()) throw new AudioFormatException(file + ": MP4 file without an audio track");
        AbstractMP4DemuxerTrack track = (AbstractMP4DemuxerTrack) audio.get(0);
        String fourcc = track.getFourcc();
        if (!"mp4a".equals(fourcc))
            throw UnsupportedAudioFeatureException.in(file, "MP4 audio with codec '" + fourcc + "'"
                    + ("alac".equals(fourcc) ? " (Apple Lossless)" : ""));
        ByteBuffer asc = AACUtils.getCodecPrivate(track.getSampleEntries()[0]);
        if (asc == null || !asc.hasRemaining()) throw new AudioFormatException(file + ": MP4 AAC track without a decoder configuration (esds)");
        JaadStream s = new JaadStream(file, bytes(asc), maxSeconds);
        long timescale = track.getTimescale();
        if (timescale <= 0) throw new AudioFormatException(file + ": MP4 audio track with timescale " + timescale);
        long ticks = 0;
        Packet p;
        while ((p = track.nextFrame()) != null) {
            s.decode(bytes(p.getData()));
            ticks += p.getDuration();
        }
        if (s.pcm == null) throw new AudioFormatException(file + ": MP4 AAC track holds no audio frames");
        // media ticks -> output samples (they differ when SBR doubles the rate or the timescale is not the rate)
        double perTick = s.rate / (double) timescale;
        long skip = 0;
        long keep = Math.round(ticks * perTick);
        Edit edit = firstMediaEdit(track.getEdits());
        if (edit != null) {
            skip = Math.round(edit.getMediaTime() * perTick);
            keep -= skip;
            // the segment's length is in the movie's timescale (often ms): only trust it when it cuts more than its rounding
            int movieScale = demuxer.getMovie().getTimescale();
            if (movieScale > 0 && edit.getDuration() > 0) {
                long byEdit = (long) Math.ceil(edit.getDuration() * (double) s.rate / movieScale);
                if (byEdit < keep - Math.ceil(s.rate / (double) movieScale)) keep = byEdit;
            }
        }
        return capped(file, new DecodedAudio(AudioFormat.MP4_AAC, s.pcm.trimmed(skip, keep), s.rate, 0), maxSeconds);
    }

    /** The decode buffer allows a frame of slack for the priming; the result itself must respect the cap. */
    private static DecodedAudio capped(Path file, DecodedAudio a, double maxSeconds) throws AudioFormatException {
        if (a.frames() > maxSeconds * a.sampleRate())
            throw new AudioFormatException(file + ": longer than the limit of " + maxSeconds + " s; split the file or raise the limit");
        return a;
    }

    private static Edit firstMediaEdit(List<Edit> edits) {
        if (edits == null) return null;
        for (Edit e : edits) if (e.getMediaTime() >= 0) return e;
        return null;
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

    private static byte[] bytes(ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.duplicate().get(out);
        return out;
    }

    /** JAAD fed frame by frame into a {@link PcmBuffer}; the rate and channels come from the first decoded frame. */
    private static final class JaadStream {
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
            try {
                if (!JaadPnsGuard.decodeFrame(decoder, frame, out))
                    throw UnsupportedAudioFeatureException.in(file, "AAC with perceptual noise substitution (PNS), which JAAD decodes wrongly,");
            } catch (AACException e) {
                throw new AudioFormatException(file + ": JAAD could not decode the AAC frame after sample " + (pcm == null ? 0 : pcm.frames())
                        + " (" + e.getMessage() + "): the file is corrupt or hits a defect of JAAD; ffmpeg decodes AAC exactly: "
                        + FfmpegDecoder.INSTALL_HINT, e);
            }
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
