package io.mert.allreduce;

import org.agrona.concurrent.AtomicBuffer;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

/**
 * One rank of {@link ShmAllReduceProcessTest} in its own JVM. Arguments: DIR SESSION RANK WORLD FLOATS TIMEOUT_MS
 * STEPS NEXT_RANK. Prints {@code ready} after entering generation 1 and waits for a line on stdin; then runs STEPS
 * operations (-1: until one fails), each checked against the exact sum it computes itself, printing
 * {@code step S ok}. After a failure it prints {@code failed PEER}; with NEXT_RANK >= 0 it then enters generation 2
 * as that rank of WORLD-1, prints {@code ready}, waits for a line, runs three checked operations and prints
 * {@code generation 2 ok}. A wrong sum exits with 3.
 */
public final class ShmRankProcess {

    private ShmRankProcess() {
    }

    /** Multiples of 1/8 below 125 in magnitude: any sum over up to 8 ranks is exact in float32. */
    static float input(int rank, long step, int i) {
        return (Math.floorMod(i * 31L + rank * 977L + step * 13L, 2001) - 1000) / 8f;
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        String session = args[1];
        int rank = Integer.parseInt(args[2]), world = Integer.parseInt(args[3]), floats = Integer.parseInt(args[4]);
        Duration timeout = Duration.ofMillis(Long.parseLong(args[5]));
        int steps = Integer.parseInt(args[6]), nextRank = Integer.parseInt(args[7]);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        try (ShmAllReduce a = new ShmAllReduce(session, floats, new ShmAllReduceConfig(dir, 16384, timeout))) {
            a.startGeneration(1, rank, world);
            System.out.println("ready");
            in.readLine();
            long step = 0;
            try {
                for (; steps < 0 || step < steps; step++) run(a, rank, world, floats, step);
                System.out.println("done");
                return;
            } catch (PeerFailureException e) {
                System.out.println("failed " + e.peerRank());
                System.err.println(e.getMessage());
            }
            if (nextRank < 0) return;
            a.startGeneration(2, nextRank, world - 1);
            System.out.println("ready");
            in.readLine();
            for (int k = 0; k < 3; k++) run(a, nextRank, world - 1, floats, ++step);
            System.out.println("generation 2 ok");
        }
    }

    private static void run(ShmAllReduce a, int rank, int world, int floats, long step) throws PeerFailureException {
        AtomicBuffer b = a.buffer();
        for (int i = 0; i < floats; i++) b.putFloat(4 * i, input(rank, step, i));
        a.allreduce(b, floats, step);
        for (int i = 0; i < floats; i++) {
            float expected = 0;
            for (int r = 0; r < world; r++) expected += input(r, step, i);
            if (b.getFloat(4 * i) != expected) {
                System.err.println("rank " + rank + " step " + step + ": element " + i + " is " + b.getFloat(4 * i) + ", expected " + expected);
                System.exit(3);
            }
        }
        System.out.println("step " + step + " ok");
    }
}
