package io.mert.cli.bench;

import io.aeron.Aeron;
import io.mert.allreduce.AllReduceConfig;
import io.mert.allreduce.DataPlaneEndpoint;
import io.mert.allreduce.RingAllReduce;
import io.mert.protocol.frame.WireFormat;
import org.agrona.concurrent.AtomicBuffer;
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
 * <p>Arguments: AERON_DIR RANK PLAN TRIALS MTU TERM_LENGTH WIRE ENDPOINT... where WIRE is fp32 or bf16, an endpoint is
 * {@code CHANNEL|STREAM} and the endpoints are in ring order.
 */
public final class AllReduceRankMain {

    static final String TRIAL = "mert-bench-rank trial";
    static final String STATS = "mert-bench-rank stats";

    private AllReduceRankMain() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 9) {
            System.err.println("usage: AllReduceRankMain AERON_DIR RANK PLAN TRIALS MTU TERM_LENGTH WIRE CHANNEL|STREAM...");
            System.exit(2);
        }
        String aeronDir = args[0];
        int rank = Integer.parseInt(args[1]);
        BenchPlan plan = BenchPlan.decode(args[2], Integer.parseInt(args[3]));
        AllReduceConfig config = new AllReduceConfig(Integer.parseInt(args[4]), Integer.parseInt(args[5]), Duration.ofSeconds(30),
                WireFormat.parse(args[6], "wire"));
        List<DataPlaneEndpoint> ring = new ArrayList<>();
        for (int i = 7; i < args.length; i++) {
            String[] e = args[i].split("\\|");
            ring.add(new DataPlaneEndpoint(e[0], Integer.parseInt(e[1])));
        }
        try (Aeron aeron = io.mert.allreduce.AeronClients.connect(aeronDir);
             RingAllReduce allReduce = new RingAllReduce(aeron, ring.get(rank), config)) {
            allReduce.startGeneration(1, rank, ring);
            UnsafeBuffer buffer = new UnsafeBuffer(ByteBuffer.allocateDirect((int) plan.largest()).order(ByteOrder.nativeOrder()));
            run((b, floats, step) -> {
                allReduce.allreduce(b, floats, step);
                return b;
            }, buffer, rank, ring.size(), plan, System.out);
            System.out.println(STATS + " rank " + rank + ": " + allReduce.directForwards() + " chunks forwarded straight from the log, "
                    + allReduce.bufferedSends() + " sent from the buffer, " + allReduce.idleCalls() + " idle calls");
        }
    }

    /** CPU time of this rank's JVM (all its threads): unlike wall time, barely changed by other processes' load. */
    private static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }

    /**
     * One allreduce of {@code floats} floats of a buffer, as step {@code step}: ours over Aeron or shared memory.
     * Returns where the sum is: the buffer itself, or a result shared by all ranks.
     */
    interface Operation {
        AtomicBuffer allreduce(AtomicBuffer buffer, int floats, long step) throws Exception;
    }

    static void run(Operation allReduce, AtomicBuffer buffer, int rank, int ranks, BenchPlan plan, PrintStream out) throws Exception {
        long step = 0;
        for (BenchPlan.Step s : plan.steps()) {
            int floats = (int) (s.bytes() / Float.BYTES);
            // small integers (sums below 256): exact in float32 and in bfloat16, so the check is exact for either wire
            for (int i = 0; i < floats; i++) buffer.putFloat(i * Float.BYTES, i % 7 + rank);
            AtomicBuffer result = allReduce.allreduce(buffer, floats, step++);
            for (int i = 0; i < floats; i++) {
                float expected = (i % 7) * ranks + ranks * (ranks - 1) / 2f;
                float got = result.getFloat(i * Float.BYTES);
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
                long t0 = System.nanoTime(), cpu0 = processCpuNanos();
                for (int it = 0; it < s.iterations(); it++) allReduce.allreduce(buffer, floats, step++);
                long elapsed = System.nanoTime() - t0, cpu = processCpuNanos() - cpu0;
                out.println(TRIAL + " " + s.bytes() + " " + s.iterations() + " " + t + " " + elapsed + " " + cpu);
            }
            out.flush();
        }
    }
}
