package io.mert.cli;

import org.nd4j.linalg.factory.Nd4j;

/**
 * Splits this host's cores between the workers of one JVM, so two workers on two cores run one
 * BLAS/OpenMP thread each instead of four fighting over two cores. {@code OMP_NUM_THREADS}, when the
 * user sets it, wins.
 */
final class Threads {

    private Threads() {
    }

    static void configureForWorkers(int workersInThisJvm) {
        int threads = System.getenv("OMP_NUM_THREADS") != null
                ? Integer.parseInt(System.getenv("OMP_NUM_THREADS").trim())
                : Math.max(1, Runtime.getRuntime().availableProcessors() / Math.max(1, workersInThisJvm));
        Nd4j.getEnvironment().setMaxThreads(threads);
        Nd4j.getEnvironment().setMaxMasterThreads(threads);
        Nd4j.factory().blas().setMaxThreads(threads);
    }
}
