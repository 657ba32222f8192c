package io.mert.data;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.Charset;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Reads the lines of a dataset text file; bytes that are not valid in its charset give an error naming the file. */
final class TextLines {
    private TextLines() {}

    static List<String> read(Path file, Charset charset) throws IOException {
        try {
            return Files.readAllLines(file, charset);
        } catch (CharacterCodingException e) {
            // the JDK's message is only "Input length = 1"
            throw new IOException(file + ": not valid " + charset.name() + " text (" + e.getMessage() + ")", e);
        }
    }
}
