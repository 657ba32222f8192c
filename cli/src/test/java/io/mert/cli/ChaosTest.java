package io.mert.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The bounded chaos run CI does: one fault of each kind (worker SIGKILL, worker SIGSTOP/SIGCONT,
 * coordinator SIGKILL and restart) on real processes, with a logged seed; the properties are checked by
 * {@link ChaosCommand}. A soak is the same command with many faults: {@code mert chaos --faults 40}.
 */
class ChaosTest {

    @Test
    void oneFaultOfEachKindAndEveryPropertyHolds() throws Exception {
        long seed = Long.getLong("mert.chaos.seed", System.nanoTime());
        ChaosCommand cmd = new ChaosCommand();
        new CommandLine(cmd).parseArgs("--seed", Long.toString(seed), "--faults", "3", "--workers", "3", "--finish-within", "6");
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int rc;
        try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
            rc = cmd.run(out);
        }
        String out = bytes.toString(StandardCharsets.UTF_8);
        System.out.println(out); // the seed, for a rerun with -Dmert.chaos.seed=...
        // the violations and node report first: a CI page may show only the head of a long message
        assertEquals(0, rc, out.substring(Math.max(0, out.indexOf("  VIOLATIONS"))) + "\n----- whole output -----\n" + out);
        for (ChaosCommand.Fault f : ChaosCommand.Fault.values()) assertTrue(out.contains(": " + f), "injected " + f + ":\n" + out);
    }

    @Test
    void theCheckerFindsAStepThatTrainedOnOtherSamples(@org.junit.jupiter.api.io.TempDir java.nio.file.Path work) throws Exception {
        DemoPipeline.Prepared data = DemoPipeline.prepare(work.resolve("data"), 6, 4, 3, System.out);
        var tree = DemoPipeline.config(data, work.resolve("run"), 1, 2, 8000).withOverrides(java.util.List.of("dataset.global_batch_size=2"));
        java.nio.file.Path metrics = work.resolve("metrics.jsonl"), events = work.resolve("events.jsonl");
        java.nio.file.Files.writeString(metrics, "{\"step\":1,\"loss\":1.0,\"sample_digest\":\"123\"}\n");
        java.nio.file.Files.writeString(events, "{\"event\":\"rollback\"}\n");
        var v = ChaosCommand.check(tree, metrics, events, 2);
        assertTrue(v.stream().anyMatch(s -> s.startsWith("step 1 trained on other samples")), v.toString());
        assertTrue(v.contains("step 2 never completed"), v.toString());
        assertTrue(v.stream().anyMatch(s -> s.startsWith("rollback")), v.toString());
    }
}
