package io.mert.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class LabelFileTest {
    @TempDir
    Path dir;

    @Test
    void roundTripAndValidation() throws IOException {
        Path f = dir.resolve("train.km");
        LabelFile.write(f, List.of(new int[] {3, 1, 4}, new int[] {1, 5}, new int[0]));
        assertEquals("3 1 4\n1 5\n\n", Files.readString(f));
        List<int[]> rows = LabelFile.read(f, 6);
        assertEquals(3, rows.size());
        assertArrayEquals(new int[] {3, 1, 4}, rows.get(0));
        assertArrayEquals(new int[0], rows.get(2));

        IOException range = assertThrows(IOException.class, () -> LabelFile.read(f, 5));
        assertTrue(range.getMessage().contains("line 2 token 2: label 5 outside [0, 5)"), range.getMessage());
        Files.writeString(f, "1 2\n3 x\n");
        IOException bad = assertThrows(IOException.class, () -> LabelFile.read(f, 10));
        assertTrue(bad.getMessage().contains("line 2 token 2: 'x' is not an integer"), bad.getMessage());
        Files.writeString(f, "1 -2\n");
        assertThrows(IOException.class, () -> LabelFile.read(f, 10));
    }
}
