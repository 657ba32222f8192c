package io.mert.allreduce;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.*;

class EmbeddedDriverTest {

    /** Launches a driver, prints its directory and waits to be killed. */
    public static final class DriverProcess {
        public static void main(String[] args) throws Exception {
            EmbeddedDriver driver = EmbeddedDriver.launch();
            System.out.println(driver.aeronDirectoryName());
            Thread.sleep(Long.MAX_VALUE);
        }
    }

    @Test
    void aSigkilledProcessesDriverDirectoryIsDeletedByTheNextLaunch() throws Exception {
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx128m",
                "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                DriverProcess.class.getName()).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        Path left;
        try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream()))) {
            left = Path.of(out.readLine());
        } finally {
            p.destroyForcibly().waitFor();
        }
        assertTrue(Files.isDirectory(left), "SIGKILL leaves the directory: " + left);
        try (EmbeddedDriver mine = EmbeddedDriver.launch()) {
            assertFalse(Files.exists(left), "the next launch deletes it");
            assertTrue(Files.isDirectory(Path.of(mine.aeronDirectoryName())));
        }
    }

    @Test
    void onlyDirectoriesOfProcessesThatNoLongerRunAreDeleted(@TempDir Path base) throws Exception {
        long self = ProcessIdentity.PID, started = ProcessIdentity.STARTED_MILLIS;
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        Path dead = Files.createDirectories(base.resolve("mert-aeron-" + gone.pid() + "-" + (started + 5000) + "-" + UUID.randomUUID()));
        Files.writeString(dead.resolve("cnc.dat"), "x");
        Path reusedPid = Files.createDirectories(base.resolve("mert-aeron-" + self + "-1600000000000-" + UUID.randomUUID()));
        Path alive = Files.createDirectories(base.resolve("mert-aeron-" + self + "-" + started + "-" + UUID.randomUUID()));
        Path olderVersion = Files.createDirectories(base.resolve("mert-aeron-" + UUID.randomUUID()));
        Path digitsOnly = Files.createDirectories(base.resolve("mert-aeron-12345678-1234-1234-1234-123456789012"));
        Path someoneElses = Files.createDirectories(base.resolve("aeron-root"));

        assertEquals(2, EmbeddedDriver.deleteDirectoriesOfDeadProcesses(base));
        assertFalse(Files.exists(dead));
        assertFalse(Files.exists(reusedPid), "the pid runs, but a process that started later");
        for (Path kept : new Path[] {alive, olderVersion, digitsOnly, someoneElses}) assertTrue(Files.exists(kept), kept.toString());
    }

    @Test
    void aMemoryFileSystemWithoutRoomIsPassedOverForTheDisk(@TempDir Path memory, @TempDir Path disk) throws Exception {
        try (EmbeddedDriver roomy = EmbeddedDriver.launch(memory, disk, 0)) {
            assertEquals(memory, Path.of(roomy.aeronDirectoryName()).getParent());
        }
        try (EmbeddedDriver full = EmbeddedDriver.launch(memory, disk, Long.MAX_VALUE)) {
            assertEquals(disk, Path.of(full.aeronDirectoryName()).getParent(), "no file system has that much room");
        }
        try (EmbeddedDriver none = EmbeddedDriver.launch(memory.resolve("absent"), disk, 0)) {
            assertEquals(disk, Path.of(none.aeronDirectoryName()).getParent());
        }
    }
}
