package io.mert.worker;

import io.mert.protocol.control.StepTimings;

/** Told about each step this worker completes, for local metrics; called on the worker's thread, so keep it cheap. */
public interface StepObserver {

    /** @param allreduceBytes the float32 payload of the step's allreduce (gradients and statistics), 0 alone */
    void onStep(long step, int worldSize, StepTimings timings, long allreduceBytes);

    StepObserver NONE = (step, worldSize, timings, allreduceBytes) -> {
    };
}
