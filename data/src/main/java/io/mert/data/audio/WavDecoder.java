package io.mert.data.audio;

import io.mert.data.WavFile;

import java.nio.file.Path;

/** RIFF/WAVE through {@link WavFile}, which validates lengths against the file size. */
public final class WavDecoder implements AudioDecoder {
    @Override
    public AudioFormat format() { return AudioFormat.WAV; }

    @Override
    public DecodedAudio decode(Path file, byte[] bytes, double maxSeconds) throws AudioFormatException {
        WavFile.Pcm pcm = WavFile.read(file, bytes);
        WavFile.Info info = pcm.info();
        if (info.seconds() > maxSeconds)
            throw new AudioFormatException(file + ": longer than the limit of " + maxSeconds + " s ("
                    + info.seconds() + " s); split the file or raise the limit");
        WavFile.Encoding e = info.encoding();
        boolean isFloat = e == WavFile.Encoding.FLOAT_32 || e == WavFile.Encoding.FLOAT_64;
        return new DecodedAudio(AudioFormat.WAV, pcm.channels(), info.sampleRate(), isFloat ? 0 : e.bytes() * 8);
    }
}
