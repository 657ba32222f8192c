package io.mert.model.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/**
 * Runs Python snippets for cross-checks against the reference libraries (numpy, safetensors). Uses
 * /usr/bin/python3 unless MERT_TEST_PYTHON names another interpreter; tests skip when a module is absent.
 */
final class PythonCheck {

    static final String PYTHON = System.getenv().getOrDefault("MERT_TEST_PYTHON", "/usr/bin/python3");

    private PythonCheck() {}

    static boolean hasModule(String module) {
        try {
            Process p = new ProcessBuilder(PYTHON, "-c", "import " + module).redirectErrorStream(true).start();
            p.getInputStream().transferTo(OutputStreamSink.INSTANCE);
            return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }

    /** Runs {@code code}, asserts success, returns stdout+stderr stripped. */
    static String run(String code) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(PYTHON, "-c", code).redirectErrorStream(true).start();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        p.getInputStream().transferTo(out);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "python timed out");
        String text = out.toString(StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), text);
        return text.strip();
    }

    private static final class OutputStreamSink extends java.io.OutputStream {
        static final OutputStreamSink INSTANCE = new OutputStreamSink();

        @Override
        public void write(int b) {}
    }
}
