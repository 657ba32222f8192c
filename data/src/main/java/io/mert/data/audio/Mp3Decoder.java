package io.mert.data.audio;

import javazoom.jl.decoder.Bitstream;
import javazoom.jl.decoder.BitstreamException;
import javazoom.jl.decoder.Decoder;
import javazoom.jl.decoder.DecoderException;
import javazoom.jl.decoder.Header;
import javazoom.jl.decoder.SampleBuffer;

import java.io.ByteArrayInputStream;
import java.nio.file.Path;

/**
 * MPEG-1/2/2.5 audio layer III through JLayer (pure Java, LGPL), with gapless trimming.
 *
 * <p>An MP3 decoder's output lags the encoder's input by the encoder delay (LAME: 576 samples) plus
 * the decoder delay of the hybrid filter bank, {@value #DECODER_DELAY} samples (the MDCT overlap and
 * the polyphase synthesis filter). The last frame is padded. When the first frame is a Xing/Info
 * frame with a LAME extension, this decoder drops that frame (it holds no audio), drops
 * {@code delay + 529} samples at the start and keeps {@code frames * samplesPerFrame - delay - padding},
 * which lines the output up with the encoder's input sample for sample. Without the tag only the
 * decoder delay is removed. The Xing frame and byte counts also detect truncated files.
 *
 * <p>Damage inside the audio data is not always detectable: MP3 frames carry no checksum unless the
 * encoder added CRCs, and JLayer resynchronises on the next frame header, as most decoders do.
 */
public final class Mp3Decoder implements AudioDecoder {
    static final int DECODER_DELAY = 529;

    @Override
    public AudioFormat format() { return AudioFormat.MP3; }

    @Override
    public DecodedAudio decode(Path file, byte[] bytes, double maxSeconds) throws AudioFormatException {
        try {
            return run(file, bytes, maxSeconds);
        } catch (BitstreamException | DecoderException | RuntimeException | OutOfMemoryError e) {
            throw new AudioFormatException(file + ": corrupt MP3 data (" + e + ")", e);
        }
    }

    private static DecodedAudio run(Path file, byte[] bytes, double maxSeconds)
            throws AudioFormatException, BitstreamException, DecoderException {
        int pos = Id3v2.skip(bytes);
        int tagEnd = pos;
        while (pos < bytes.length && pos < tagEnd + 4096 && bytes[pos] == 0) pos++;
        MpegHeader first = MpegHeader.parse(bytes, pos);
        if (first == null) throw new AudioFormatException(file + ": no MPEG layer III frame at byte " + pos + " (not an MP3 file)");
        LameTag tag = LameTag.parse(bytes, pos, first);
        if (tag != null && tag.bytes() > 0 && bytes.length - pos < tag.bytes())
            throw new AudioFormatException(file + ": truncated: the Xing header declares " + tag.bytes()
                    + " bytes of audio stream but only " + (bytes.length - pos) + " follow");

        Bitstream in = new Bitstream(new ByteArrayInputStream(bytes, pos, bytes.length - pos));
        Decoder decoder = new Decoder();
        PcmBuffer pcm = new PcmBuffer(file, first.channels(), first.sampleRate(), maxSeconds);
        long frames = 0;
        boolean skipTagFrame = tag != null;
        Header h;
        while ((h = in.readFrame()) != null) {
            if (skipTagFrame) {
                skipTagFrame = false;
                in.closeFrame();
                continue;
            }
            if (h.layer() != 3) throw new AudioFormatException(file + ": frame " + frames + " is MPEG layer " + h.layer() + ", not III");
            int channels = h.mode() == Header.SINGLE_CHANNEL ? 1 : 2;
            if (h.frequency() != first.sampleRate() || channels != first.channels())
                throw new AudioFormatException(file + ": frame " + frames + " changes format to " + h.frequency() + " Hz, "
                        + channels + " channels (stream began with " + first.sampleRate() + " Hz, " + first.channels() + ")");
            SampleBuffer out = (SampleBuffer) decoder.decodeFrame(h, in);
            short[] s = out.getBuffer();
            int n = out.getBufferLength() / channels;
            float[][] dst = pcm.reserve(n);
            int at = pcm.frames();
            for (int i = 0; i < n; i++)
                for (int c = 0; c < channels; c++) dst[c][at + i] = s[i * channels + c] / 32768f;
            pcm.commit(n);
            in.closeFrame();
            frames++;
        }
        if (frames == 0) throw new AudioFormatException(file + ": no MP3 audio frames");
        if (tag != null && tag.frames() > 0 && frames < tag.frames())
            throw new AudioFormatException(file + ": truncated: the Xing header declares " + tag.frames()
                    + " frames but only " + frames + " were found");
        long skip = DECODER_DELAY, keep = pcm.frames() - DECODER_DELAY;
        if (tag != null && tag.delay() >= 0) {
            skip = tag.delay() + DECODER_DELAY;
            keep = (tag.frames() > 0 ? tag.frames() : frames) * first.samplesPerFrame() - tag.delay() - tag.padding();
        }
        return new DecodedAudio(AudioFormat.MP3, pcm.trimmed(skip, keep), first.sampleRate(), 0);
    }
}
