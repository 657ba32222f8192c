package io.mert.cli.bench;

import io.mert.allreduce.ShmAllReduce;
import io.mert.allreduce.ShmAllReduceConfig;

import java.nio.file.Path;
import java.time.Duration;

/**
 * One rank of {@code mert bench allreduce --transport shm}, run as its own JVM by {@link ShmBench}: the same checked
 * sum and timed loops as {@link AllReduceRankMain}, on {@link ShmAllReduce}'s own area.
 *
 * <p>Arguments: DIR SESSION RANK RANKS PLAN TRIALS CHUNK_BYTES in-place|shared (where the sum goes: every rank's own
 * area, {@link ShmAllReduce#allreduce}, or one result all ranks read, {@link ShmAllReduce#allreduceShared}).
 */
public final class ShmRankMain {

    private ShmRankMain() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 8) {
            System.err.println("usage: ShmRankMain DIR SESSION RANK RANKS PLAN TRIALS CHUNK_BYTES in-place|shared");
            System.exit(2);
        }
        boolean shared = args[7].equals("shared");
        int rank = Integer.parseInt(args[2]), ranks = Integer.parseInt(args[3]);
        BenchPlan plan = BenchPlan.decode(args[4], Integer.parseInt(args[5]));
        ShmAllReduceConfig config = new ShmAllReduceConfig(Path.of(args[0]), Integer.parseInt(args[6]), Duration.ofSeconds(30));
        try (ShmAllReduce allReduce = new ShmAllReduce(args[1], Math.toIntExact(plan.largest() / Float.BYTES), config)) {
            allReduce.startGeneration(1, rank, ranks);
            AllReduceRankMain.Operation operation = shared ? (b, floats, step) -> allReduce.allreduceShared(floats, step)
                    : (b, floats, step) -> {
                        allReduce.allreduce(b, floats, step);
                        return b;
                    };
            AllReduceRankMain.run(operation, allReduce.buffer(), rank, ranks, plan, System.out);
            System.out.println(AllReduceRankMain.STATS + " rank " + rank + " (shm): " + allReduce.idleCalls() + " idle calls, "
                    + (ShmAllReduce.VECTOR_SUM ? "vectorised" : "scalar") + " sum");
        }
    }
}
