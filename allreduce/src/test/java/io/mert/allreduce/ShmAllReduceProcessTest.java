package io.mert.allreduce;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** {@link ShmAllReduce} with every rank its own JVM ({@link ShmRankProcess}); one of them killed with SIGKILL. */
class ShmAllReduceProcessTest {

    @TempDir
    Path dir;

    private final List<Rank> ranks = new ArrayList<>();

    /** A rank process and the lines it printed. */
    private static final class Rank {
        final Process process;
        final BlockingQueue<String> lines = new LinkedBlockingQueue<>();

        Rank(Process process) {
            this.process = process;
            Thread t = new Thread(() -> {
                try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String l; (l = in.readLine()) != null; ) lines.add(l);
                } catch (IOException e) {
                    // the process ended
                }
            });
            t.setDaemon(true);
            t.start();
        }

        /** Waits for a line that starts with {@code prefix}, skipping others. */
        String await(String prefix, long seconds) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
            while (true) {
                String l = lines.poll(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                if (l == null) fail("no '" + prefix + "' line within " + seconds + " s (alive " + process.isAlive() + ")");
                if (l.startsWith(prefix)) return l;
            }
        }

        void go() throws IOException {
            OutputStream o = process.getOutputStream();
            o.write("go\n".getBytes(StandardCharsets.UTF_8));
            o.flush();
        }
    }

    private void start(String session, int world, int floats, long timeoutMs, int steps, int[] nextRank) throws IOException {
        String java = ProcessHandle.current().info().command().orElse("java");
        for (int r = 0; r < world; r++) {
            // even ranks sum with the Vector API, odd ones with the scalar loop: the two must work together
            String vector = r % 2 == 0 ? "--add-modules=jdk.incubator.vector" : "-Dmert.allreduce.vector=false";
            ProcessBuilder pb = new ProcessBuilder(java, "-Xmx256m", "-XX:+UseSerialGC", vector,
                    "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                    ShmRankProcess.class.getName(), dir.toString(), session, Integer.toString(r), Integer.toString(world),
                    Integer.toString(floats), Long.toString(timeoutMs), Integer.toString(steps), Integer.toString(nextRank[r]));
            pb.redirectError(ProcessBuilder.Redirect.INHERIT);
            ranks.add(new Rank(pb.start()));
        }
    }

    @AfterEach
    void stop() {
        for (Rank r : ranks) r.process.destroyForcibly();
    }

    @Test
    void threeRankProcessesEndWithTheExactSum() throws Exception {
        start("procs", 3, 200_003, 20_000, 12, new int[]{-1, -1, -1});
        for (Rank r : ranks) r.await("ready", 60);
        for (Rank r : ranks) r.go();
        for (int i = 0; i < 3; i++) {
            ranks.get(i).await("done", 60);
            assertTrue(ranks.get(i).process.waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, ranks.get(i).process.exitValue(), "rank " + i + " checked every sum");
        }
    }

    @Test
    void aKilledRankIsNamedWithinTheTimeoutAndTheSurvivorsRunTheNextGeneration() throws Exception {
        // ranks 0 and 2 survive and become ranks 0 and 1 of generation 2; rank 1 is killed
        start("kill", 3, 50_000, 3_000, -1, new int[]{0, -1, 1});
        for (Rank r : ranks) r.await("ready", 60);
        for (Rank r : ranks) r.go();
        for (Rank r : ranks) r.await("step 5 ok", 60);
        ranks.get(1).process.destroyForcibly();
        long t0 = System.nanoTime();
        for (int r : new int[]{0, 2}) assertEquals("failed 1", ranks.get(r).await("failed", 30), "rank " + r + " names the killed rank");
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertTrue(seconds < 15, "reported " + seconds + " s after the kill, with a 3 s timeout");
        for (int r : new int[]{0, 2}) ranks.get(r).await("ready", 30);
        for (int r : new int[]{0, 2}) ranks.get(r).go();
        for (int r : new int[]{0, 2}) {
            ranks.get(r).await("generation 2 ok", 60);
            assertTrue(ranks.get(r).process.waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, ranks.get(r).process.exitValue());
        }
        // the survivors deleted their files on closing, and the killed rank's when they entered generation 2
        try (java.util.stream.Stream<Path> files = java.nio.file.Files.list(dir)) {
            assertEquals(List.of(), files.map(p -> p.getFileName().toString()).toList());
        }
    }
}
