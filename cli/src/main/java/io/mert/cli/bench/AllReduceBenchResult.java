package io.mert.cli.bench;

import java.util.List;

/**
 * What the rank processes of one allreduce variant measured.
 *
 * @param timings         per size in plan order
 * @param cpuSecondsPerOp per size: the CPU time of all rank processes together per operation (median over
 *                        trials), which other processes' load changes far less than wall time. A media driver's
 *                        CPU is not in it
 */
public record AllReduceBenchResult(List<Timings> timings, double[] cpuSecondsPerOp) {
}
