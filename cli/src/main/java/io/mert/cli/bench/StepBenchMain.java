package io.mert.cli.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mert.model.Batch;
import io.mert.model.checkpoint.SafeTensors;
import io.mert.model.nn.MertNetwork;
import io.mert.model.nn.OpTimeProfile;
import io.mert.model.nn.StepStats;
import io.mert.model.optim.AdamW;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Our side of {@code mert bench step}, in a JVM of its own so that its peak memory is the step's:
 * builds the network, writes its initial weights and the batch for the PyTorch peer, then times
 * forward + backward ({@link MertNetwork#computeGradients}) and the AdamW update. Prints one line,
 * {@code RESULT <json>}.
 */
public final class StepBenchMain {

    static final String RESULT = "RESULT ";

    private StepBenchMain() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        StepBenchSpec spec = StepBenchSpec.read(dir.resolve("spec.json"));
        Nd4j.getEnvironment().setMaxThreads(spec.threads());
        Nd4j.getEnvironment().setMaxMasterThreads(spec.threads());
        Nd4j.factory().blas().setMaxThreads(spec.threads());

        Batch batch = SyntheticBatch.make(spec.config(), spec.batch(), spec.cropSamples(), 17);
        long buildStart = System.nanoTime();
        try (MertNetwork net = new MertNetwork(spec.config(), spec.cropSamples(), 1)) {
            double buildMs = (System.nanoTime() - buildStart) / 1e6;
            SafeTensors.write(dir.resolve("model.safetensors"), net.layout(), net.parameters(), Map.of());
            SyntheticBatch.writeNpy(batch, dir);
            INDArray grads = Nd4j.create(DataType.FLOAT, net.layout().totalSize());
            AdamW adam = new AdamW(net.layout().totalSize(), AdamW.Config.mert(), spec.threads());

            double loss0 = Double.NaN;
            for (int i = 0; i < spec.warmup(); i++) {
                StepStats s = net.computeGradients(batch, grads, i);
                adam.step(net.parameters(), grads, spec.lr());
                if (i == 0) loss0 = s.loss();
            }
            ArrayNode total = JSON.createArrayNode();
            ArrayNode compute = JSON.createArrayNode();
            ArrayNode update = JSON.createArrayNode();
            long deadline = System.nanoTime() + (long) (spec.seconds() * 1e9);
            long allocatedBefore = heapAllocatedBytes();
            for (int i = 0; i < spec.maxSteps() && (i < spec.minSteps() || System.nanoTime() < deadline); i++) {
                long t0 = System.nanoTime();
                net.computeGradients(batch, grads, spec.warmup() + i);
                long t1 = System.nanoTime();
                adam.step(net.parameters(), grads, spec.lr());
                long t2 = System.nanoTime();
                total.add((t2 - t0) / 1e6);
                compute.add((t1 - t0) / 1e6);
                update.add((t2 - t1) / 1e6);
            }
            long allocatedPerStep = (heapAllocatedBytes() - allocatedBefore) / Math.max(1, total.size());
            ObjectNode out = JSON.createObjectNode();
            if (spec.profile()) {
                OpTimeProfile profile = new OpTimeProfile();
                net.profile(profile);
                int steps = Math.max(1, total.size() / 4);
                long t0 = System.nanoTime();
                for (int i = 0; i < steps; i++) net.computeGradients(batch, grads, i);
                double wallMs = (System.nanoTime() - t0) / 1e6 / steps;
                net.profile(null);
                ObjectNode p = out.putObject("profile");
                p.put("steps", steps).put("wall_ms", wallMs).put("forward_ops", net.opCounts()[0])
                        .put("gradient_ops", net.opCounts()[1]);
                ArrayNode ops = p.putArray("ops");
                for (OpTimeProfile.Entry e : profile.entries()) {
                    ops.addObject().put("op", e.op()).put("ms", e.nanos() / 1e6 / steps).put("calls", e.calls() / steps);
                }
            }
            out.set("step_ms", total);
            out.set("compute_ms", compute);
            out.set("update_ms", update);
            out.put("build_ms", buildMs).put("loss0", loss0).put("parameters", net.layout().totalSize())
                    .put("peak_rss_bytes", peakRssBytes()).put("peak_heap_bytes", peakHeapBytes()).put("arena_bytes", net.arenaBytes())
                    .put("heap_allocated_per_step_bytes", allocatedPerStep)
                    .put("threads", spec.threads());
            System.out.println(RESULT + JSON.writeValueAsString(out));
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * Java heap bytes allocated so far by the live threads (the step's thread and the kernels' pool): the garbage a
     * step leaves, divided by the steps in between.
     */
    static long heapAllocatedBytes() {
        var threads = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long sum = 0;
        for (long b : threads.getThreadAllocatedBytes(threads.getAllThreadIds())) if (b > 0) sum += b;
        return sum;
    }

    /** The kernel's high-water mark of this process's resident memory (Linux); -1 elsewhere. */
    static long peakRssBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        } catch (Exception e) {
            // not Linux: no high-water mark to read
        }
        return -1;
    }

    private static long peakHeapBytes() {
        long sum = 0;
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
            if (p.getType() == MemoryType.HEAP && p.getPeakUsage() != null) sum += p.getPeakUsage().getUsed();
        }
        return sum;
    }
}
