package io.mert.cli;

import io.mert.allreduce.AllReduceConfig;
import io.mert.allreduce.ShmAllReduceConfig;
import io.mert.cli.bench.AeronRingBench;
import io.mert.cli.bench.AllReduceBenchResult;
import io.mert.cli.bench.AllReduceBenchReport;
import io.mert.cli.bench.BenchPlan;
import io.mert.cli.bench.ByteSize;
import io.mert.cli.bench.CopyBandwidth;
import io.mert.cli.bench.GlooBench;
import io.mert.cli.bench.ShmBench;
import io.mert.cli.bench.Timings;
import io.mert.protocol.frame.WireFormat;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "allreduce", mixinStandardHelpOptions = true,
        description = {"Time our allreduce (each rank its own JVM: the Aeron ring with one media driver, or the shared-memory "
                + "one) against PyTorch's Gloo allreduce (each rank its own Python process, TCP on 127.0.0.1) and the "
                + "machine's memory-copy rate.",
                "Prints time per operation, algbw and busbw (nccl-tests' definitions) and the ratios."})
final class AllReduceBenchCommand implements Callable<Integer> {

    @Option(names = "--ranks", defaultValue = "2", description = "ranks in the ring (default ${DEFAULT-VALUE})")
    int ranks;

    @Option(names = "--bytes", split = ",", defaultValue = "4K,64K,1M,16M,64M",
            description = "buffer sizes, float32, binary suffixes (default ${DEFAULT-VALUE})")
    List<String> sizes;

    @Option(names = "--transport", split = ",", defaultValue = "ipc",
            description = "transports of ours to time, one row each: ipc (Aeron ring, log buffers in shared memory), udp (Aeron "
                    + "ring over 127.0.0.1), shm (ranks read each other's buffers in shared memory, float32 only), shm-shared "
                    + "(as shm, with one result that every rank reads instead of a copy in each), or a list such as ipc,shm "
                    + "(default ${DEFAULT-VALUE})")
    List<String> transports;

    @Option(names = "--shm-chunk", description = "shm: chunk size in bytes, the unit of progress between ranks (default: ShmAllReduceConfig's, 1 MiB)")
    String shmChunk;

    @Option(names = "--mtu", description = "Aeron MTU = chunk size in bytes (default: AllReduceConfig's)")
    Integer mtu;

    @Option(names = "--term-length", description = "Aeron term length, a power of two >= 64K (default: AllReduceConfig's)")
    String termLength;

    @Option(names = "--wire", split = ",", defaultValue = "fp32",
            description = "wire formats of our ring to time, each on the same float32 buffers: fp32, bf16 or both "
                    + "as fp32,bf16 (default ${DEFAULT-VALUE}); bandwidths always count the float32 bytes")
    List<String> wires;

    @Option(names = "--trials", defaultValue = "7", description = "timed loops per size; the median is reported (default ${DEFAULT-VALUE})")
    int trials;

    @Option(names = "--bytes-per-trial", defaultValue = "512M",
            description = "each trial runs about this many bytes of allreduce, between 5 and 2000 operations (default ${DEFAULT-VALUE})")
    String bytesPerTrial;

    @Option(names = "--iters", defaultValue = "0", description = "operations per trial for every size (0: from --bytes-per-trial)")
    int iterations;

    @Option(names = "--no-gloo", description = "skip the Gloo peer")
    boolean noGloo;

    @Option(names = "--python", description = "Python with torch for the Gloo peer (default /usr/bin/python3, else python3)")
    String python;

    @Option(names = "--gloo-script", description = "the peer script (default: " + GlooBench.SCRIPT + " in this checkout)")
    Path glooScript;

    @Option(names = "--timeout", defaultValue = "600", description = "seconds each side may take (default ${DEFAULT-VALUE})")
    long timeoutSeconds;

    @Override
    public Integer call() throws Exception {
        return run(System.out);
    }

    int run(PrintStream out) throws Exception {
        List<String> kinds = transports.stream().map(t -> t.toLowerCase(Locale.ROOT)).distinct().toList();
        for (String t : kinds) {
            if (!List.of("ipc", "udp", "shm", "shm-shared").contains(t)) {
                throw new IllegalArgumentException("--transport must be ipc, udp, shm or shm-shared (or a list of them), got " + t);
            }
        }
        List<WireFormat> formats = wires.stream().map(w -> WireFormat.parse(w, "--wire")).distinct().toList();
        if (formats.contains(WireFormat.BF16) && ranks > 16) {
            throw new IllegalArgumentException("--wire bf16 supports at most 16 ranks (the exactness check's sums must stay "
                    + "below 256, where bfloat16 holds integers exactly), got --ranks " + ranks);
        }
        AllReduceConfig d = AllReduceConfig.defaults();
        AllReduceConfig config = new AllReduceConfig(mtu != null ? mtu : d.mtuBytes(),
                termLength != null ? Math.toIntExact(ByteSize.parse(termLength)) : d.termLength(), Duration.ofSeconds(30));
        BenchPlan plan = BenchPlan.of(sizes.stream().map(ByteSize::parse).toList(), ByteSize.parse(bytesPerTrial), 5, 2000,
                iterations, trials);
        Duration timeout = Duration.ofSeconds(timeoutSeconds);

        out.printf(Locale.ROOT, "mert bench allreduce: %d ranks, float32 sum, wire %s, %d trials per size; %d cores, load average %.2f%n",
                ranks, formats.stream().map(WireFormat::configName).collect(java.util.stream.Collectors.joining(",")), trials, Runtime.getRuntime().availableProcessors(),
                java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        ShmAllReduceConfig shm = ShmAllReduceConfig.defaults().withPeerTimeout(Duration.ofSeconds(30));
        if (shmChunk != null) shm = shm.withChunkBytes(Math.toIntExact(ByteSize.parse(shmChunk)));
        for (String t : kinds) {
            if (t.startsWith("shm")) {
                out.printf(Locale.ROOT, "  mert %s: shared-memory allreduce, %d JVM processes reading each other's buffers in %s, "
                        + "chunk %s, %s (no copy in or out); float32 only%n",
                        t, ranks, shm.directory(), ByteSize.format(shm.chunkBytes()),
                        t.equals("shm") ? "the sum in every rank's own area" : "one sum in shared memory that every rank reads");
            } else {
                out.printf(Locale.ROOT, "  mert %s: Aeron ring allreduce, %d JVM processes, one embedded media driver, mtu %d, term %s%n",
                        t, ranks, config.mtuBytes(), ByteSize.format(config.termLength()));
            }
        }
        List<Timings> copy = CopyBandwidth.measure(plan);
        Map<String, AllReduceBenchResult> ours = new LinkedHashMap<>();
        for (String t : kinds) {
            if (t.startsWith("shm")) {
                // no bytes travel: the peers' float32 values are read where they lie, so a bf16 wire has nothing to save
                if (formats.contains(WireFormat.FP32)) ours.put(t + "/fp32", new ShmBench(ranks, shm, timeout, t.equals("shm-shared")).run(plan));
                else out.println("  mert " + t + ": skipped (float32 only; add fp32 to --wire)");
                continue;
            }
            AeronRingBench.Transport tr = t.equals("ipc") ? AeronRingBench.Transport.IPC : AeronRingBench.Transport.UDP;
            for (WireFormat w : formats) {
                ours.put(t + "/" + w.configName(), new AeronRingBench(ranks, tr, config.withWire(w), timeout).run(plan));
            }
        }
        List<Timings> gloo = List.of();
        if (noGloo) {
            out.println("  gloo: skipped (--no-gloo)");
        } else {
            GlooBench bench = new GlooBench(python != null ? python : GlooBench.defaultPython(),
                    glooScript != null ? glooScript : GlooBench.findScript().orElse(null), timeout);
            GlooBench.Outcome o = bench.run(ranks, plan);
            if (o.skipped() != null) {
                out.println("  gloo: skipped: " + o.skipped());
            } else {
                out.printf("  gloo: torch.distributed Gloo allreduce, %d Python processes, TCP on 127.0.0.1%n", ranks);
                gloo = o.timings();
            }
        }
        AllReduceBenchReport.print(out, ranks, ours, gloo, copy);
        return 0;
    }
}
