package io.mert.cli.bench;

import io.mert.allreduce.ShmAllReduceConfig;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Our shared-memory allreduce ({@link io.mert.allreduce.ShmAllReduce}) with every rank in its own JVM
 * ({@link ShmRankMain}): the ranks map each other's files in the config's directory and read the peers' buffers
 * where they lie. No media driver. The ranks reduce the allreduce's own area ({@code buffer()}), as a trainer that
 * writes its gradients there would, so no copy in or out is timed; the sum goes back into every rank's area, or, with
 * {@code shared}, into one result that every rank reads ({@link io.mert.allreduce.ShmAllReduce#allreduceShared}).
 */
public final class ShmBench {

    private final int ranks;
    private final ShmAllReduceConfig config;
    private final Duration timeout;
    private final boolean shared;

    public ShmBench(int ranks, ShmAllReduceConfig config, Duration timeout, boolean shared) {
        if (ranks < 2) throw new IllegalArgumentException("--ranks must be at least 2, got " + ranks);
        this.ranks = ranks;
        this.config = config;
        this.timeout = timeout;
        this.shared = shared;
    }

    public AllReduceBenchResult run(BenchPlan plan) throws IOException, InterruptedException {
        String session = "bench-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
        List<List<String>> commands = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            List<String> cmd = new ArrayList<>(JavaCommand.forMainClass(ShmRankMain.class, 0));
            cmd.addAll(List.of(config.directory().toString(), session, Integer.toString(r), Integer.toString(ranks), plan.encode(),
                    Integer.toString(plan.trials()), Integer.toString(config.chunkBytes()), shared ? "shared" : "in-place"));
            commands.add(cmd);
        }
        return RankProcesses.run(commands, plan, timeout);
    }
}
