package io.mert.data.audio;

import java.nio.file.Path;

/** Turns the bytes of one audio file into PCM. Implementations are stateless and thread-safe. */
public interface AudioDecoder {
    AudioFormat format();

    /**
     * @param file       only for messages
     * @param bytes      the whole file
     * @param maxSeconds decoding stops with an {@link AudioFormatException} past this much audio
     *                   (guards memory against forged lengths and decompression bombs)
     */
    DecodedAudio decode(Path file, byte[] bytes, double maxSeconds) throws AudioFormatException;
}
