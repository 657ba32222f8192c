package io.mert.cli.bench;

import java.nio.file.Path;
import java.util.List;

/** The command line that starts a class of this program in a fresh JVM with this JVM's class path. */
final class JavaCommand {

    private JavaCommand() {
    }

    /** @param directBytes off-heap memory the child needs for its buffers */
    static List<String> forMainClass(Class<?> main, long directBytes) {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        long directMiB = Math.max(64, 2 * directBytes / (1 << 20) + 64);
        return List.of(java,
                // what Agrona/Aeron need on Java 17 (the fat jar's manifest grants them only to java -jar)
                "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED",
                "--add-opens", "java.base/java.nio=ALL-UNNAMED",
                "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED",
                // the shared-memory allreduce's vectorised sum (ShmAllReduce.VECTOR_SUM)
                "--add-modules", "jdk.incubator.vector",
                "-Xms64m", "-Xmx256m", "-XX:MaxDirectMemorySize=" + directMiB + "m", "-XX:+UseSerialGC",
                "-cp", System.getProperty("java.class.path"), main.getName());
    }
}
