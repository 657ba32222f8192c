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

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(Threads.class);

    static void configureForWorkers(int workersInThisJvm) {
        if (System.getenv("OMP_WAIT_POLICY") == null) {
            LOG.warn("OMP_WAIT_POLICY is not set: ND4J's OpenMP threads will spin between ops on the cores OpenBLAS needs "
                    + "(the MERT-95M step ran 1.7x slower so); start Java with OMP_WAIT_POLICY=PASSIVE "
                    + "(the mert launcher and the images do)");
        }
        int threads = System.getenv("OMP_NUM_THREADS") != null
                ? Integer.parseInt(System.getenv("OMP_NUM_THREADS").trim())
                : Math.max(1, Runtime.getRuntime().availableProcessors() / Math.max(1, workersInThisJvm));
        Nd4j.getEnvironment().setMaxThreads(threads);
        Nd4j.getEnvironment().setMaxMasterThreads(threads);
        Nd4j.factory().blas().setMaxThreads(threads);
    }
}
