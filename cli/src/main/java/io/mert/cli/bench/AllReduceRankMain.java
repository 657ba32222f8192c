package io.mert.cli.bench;

import io.aeron.Aeron;
import io.mert.allreduce.AllReduceConfig;
import io.mert.allreduce.DataPlaneEndpoint;
import io.mert.allreduce.RingAllReduce;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * One rank of {@code mert bench allreduce}, run as its own JVM by {@link AeronRingBench}: connects to
 * the benchmark's media driver, checks one exact sum per size, then times the plan and prints
 * one {@code trial} line per timed loop on stdout.
 *
 * <p>Arguments: AERON_DIR RANK PLAN TRIALS MTU TERM_LENGTH ENDPOINT... where an endpoint is
 * {@code CHANNEL|STREAM} and the endpoints are in ring order.
 */
public final class AllReduceRankMain {

    static final String TRIAL = "mert-bench-rank trial";

    private AllReduceRankMain() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 8) {
            System.err.println("usage: AllReduceRankMain AERON_DIR RANK PLAN TRIALS MTU TERM_LENGTH CHANNEL|STREAM...");
            System.exit(2);
        }
        String aeronDir = args[0];
        int rank = Integer.parseInt(args[1]);
        BenchPlan plan = BenchPlan.decode(args[2], Integer.parseInt(args[3]));
        AllReduceConfig config = new AllReduceConfig(Integer.parseInt(args[4]), Integer.parseInt(args[5]), Duration.ofSeconds(30));
        List<DataPlaneEndpoint> ring = new ArrayList<>();
        for (int i = 6; i < args.length; i++) {
            String[] e = args[i].split("\\|");
            ring.add(new DataPlaneEndpoint(e[0], Integer.parseInt(e[1])));
        }
        try (Aeron aeron = io.mert.allreduce.AeronClients.connect(aeronDir);
             RingAllReduce allReduce = new RingAllReduce(aeron, ring.get(rank), config)) {
            allReduce.startGeneration(1, rank, ring);
            run(allReduce, rank, ring.size(), plan, System.out);
        }
    }

    static void run(RingAllReduce allReduce, int rank, int ranks, BenchPlan plan, PrintStream out) throws Exception {
        UnsafeBuffer buffer = new UnsafeBuffer(ByteBuffer.allocateDirect((int) plan.largest()).order(ByteOrder.nativeOrder()));
        long step = 0;
        for (BenchPlan.Step s : plan.steps()) {
            int floats = (int) (s.bytes() / Float.BYTES);
            // small integers: the float32 sum is exact, so the check is exact
            for (int i = 0; i < floats; i++) buffer.putFloat(i * Float.BYTES, i % 7 + rank);
            allReduce.allreduce(buffer, floats, step++);
            for (int i = 0; i < floats; i++) {
                float expected = (i % 7) * ranks + ranks * (ranks - 1) / 2f;
                float got = buffer.getFloat(i * Float.BYTES);
                if (got != expected) {
                    throw new IllegalStateException("rank " + rank + ": wrong sum at float " + i + " of " + floats
                            + ": " + got + ", expected " + expected);
                }
            }
            for (int w = 0; w < s.warmup(); w++) allReduce.allreduce(buffer, floats, step++);
            for (int t = 0; t < plan.trials(); t++) {
                // every trial starts from the same values; they grow n-fold per operation and long trials reach
                // infinity, which float adds handle at full speed (only denormals are slow). Gloo's peer does the same.
                for (int i = 0; i < floats; i++) buffer.putFloat(i * Float.BYTES, 1f);
                long t0 = System.nanoTime();
                for (int it = 0; it < s.iterations(); it++) allReduce.allreduce(buffer, floats, step++);
                long elapsed = System.nanoTime() - t0;
                out.println(TRIAL + " " + s.bytes() + " " + s.iterations() + " " + t + " " + elapsed);
            }
            out.flush();
        }
    }
}
