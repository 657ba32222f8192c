package io.mert.worker;

import io.mert.allreduce.DataPlaneEndpoint;

/**
 * @param workerId  stable name of this worker (host and index), used in logs and events
 * @param dataPlane where this worker receives allreduce frames
 * @param device    "cpu" or "cuda:N"
 * @param observer  told about every completed step (local metrics)
 */
public record WorkerSettings(String workerId, DataPlaneEndpoint dataPlane, String device, StepObserver observer) {

    public WorkerSettings(String workerId, DataPlaneEndpoint dataPlane, String device) {
        this(workerId, dataPlane, device, StepObserver.NONE);
    }
}
