package io.mert.worker;

import io.mert.protocol.control.StepTimings;

/** Told about each step this worker completes, for local metrics; called on the worker's thread, so keep it cheap. */
public interface StepObserver {

    void onStep(long step, int worldSize, StepTimings timings);

    StepObserver NONE = (step, worldSize, timings) -> {
    };
}
