package io.mert.cli;

import io.mert.model.checkpoint.AtomicFiles;

import java.nio.file.Files;
import java.nio.file.Path;

/** One small prepared corpus (8 clips, k-means labels) shared by the process-level fault tests of a test JVM. */
final class FaultTestData {

    private static DemoPipeline.Prepared prepared;

    private FaultTestData() {
    }

    static synchronized DemoPipeline.Prepared get() throws Exception {
        if (prepared == null) {
            Path dir = Files.createTempDirectory("mert-fault-data");
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                try {
                    AtomicFiles.deleteRecursively(dir);
                } catch (Exception ignored) {
                    // a temporary directory; the OS cleans it eventually
                }
            }));
            prepared = DemoPipeline.prepare(dir, 8, 8, 11, System.out);
        }
        return prepared;
    }
}
