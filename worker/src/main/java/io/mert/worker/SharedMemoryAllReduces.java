package io.mert.worker;

import io.mert.allreduce.ShmAllReduce;
import io.mert.allreduce.ShmAllReduceConfig;

/**
 * A worker node's shared-memory allreduce ({@code distributed_training.allreduce_transport: shm}): made when a run
 * first asks for it, kept while later generations of the same run fit it, and closed with the node (which deletes
 * its file in the shared-memory directory), like the node's Aeron ring.
 */
public final class SharedMemoryAllReduces implements AutoCloseable {

    private final ShmAllReduceConfig config;
    private volatile ShmAllReduce current; // aborted from the worker's inbox thread too
    private String session;
    private boolean closed;

    public SharedMemoryAllReduces(ShmAllReduceConfig config) {
        this.config = config;
    }

    public SharedMemoryAllReduces() {
        this(ShmAllReduceConfig.defaults());
    }

    /** The session id of a run's files: the same on every worker of a run, another for other runs. */
    public static String session(String runDir, String configHash) {
        return java.util.UUID.nameUUIDFromBytes((runDir + "|" + configHash).getBytes(java.nio.charset.StandardCharsets.UTF_8)).toString();
    }

    /** One for this run that holds {@code floats}, a new one when the current does not fit. */
    synchronized ShmAllReduce forRun(String runDir, String configHash, int floats) {
        if (closed) throw new IllegalStateException("the worker node is closing");
        String id = session(runDir, configHash);
        if (current == null || !id.equals(session) || current.capacityFloats() < floats) {
            if (current != null) current.close();
            current = null;
            current = new ShmAllReduce(id, floats, config);
            session = id;
        }
        return current;
    }

    /** Ends an operation of a generation older than {@code newGeneration} at once; from any thread. */
    void abortBefore(long newGeneration) {
        ShmAllReduce s = current;
        if (s != null) s.abortBefore(newGeneration);
    }

    @Override
    public synchronized void close() {
        closed = true;
        if (current != null) current.close();
        current = null;
    }
}
