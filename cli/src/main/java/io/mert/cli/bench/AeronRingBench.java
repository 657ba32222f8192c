package io.mert.cli.bench;

import io.mert.allreduce.AllReduceConfig;
import io.mert.allreduce.EmbeddedDriver;

import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Our ring allreduce with every rank in its own JVM ({@link AllReduceRankMain}), all connected to one
 * embedded media driver in this process: over {@code ipc} the frames go through shared-memory log
 * buffers, over {@code udp} through the driver's sockets on 127.0.0.1.
 */
public final class AeronRingBench {

    public enum Transport { IPC, UDP }

    private final int ranks;
    private final Transport transport;
    private final AllReduceConfig config;
    private final Duration timeout;

    public AeronRingBench(int ranks, Transport transport, AllReduceConfig config, Duration timeout) {
        if (ranks < 2) throw new IllegalArgumentException("--ranks must be at least 2, got " + ranks);
        this.ranks = ranks;
        this.transport = transport;
        this.config = config;
        this.timeout = timeout;
    }

    /** Runs the plan on fresh rank processes. */
    public AllReduceBenchResult run(BenchPlan plan) throws IOException, InterruptedException {
        try (EmbeddedDriver driver = EmbeddedDriver.launch()) {
            List<String> endpoints = endpoints();
            List<List<String>> commands = new ArrayList<>();
            for (int r = 0; r < ranks; r++) {
                List<String> cmd = new ArrayList<>(JavaCommand.forMainClass(AllReduceRankMain.class, plan.largest()));
                cmd.addAll(List.of(driver.aeronDirectoryName(), Integer.toString(r), plan.encode(),
                        Integer.toString(plan.trials()), Integer.toString(config.mtuBytes()),
                        Integer.toString(config.termLength()), config.wire().configName()));
                cmd.addAll(endpoints);
                commands.add(cmd);
            }
            return RankProcesses.run(commands, plan, timeout);
        }
    }

    private List<String> endpoints() throws IOException {
        List<String> out = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            out.add(transport == Transport.IPC ? "aeron:ipc|" + (3000 + r) : "aeron:udp?endpoint=127.0.0.1:" + freeUdpPort() + "|7");
        }
        return out;
    }

    private static int freeUdpPort() throws IOException {
        try (DatagramSocket s = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }
}
