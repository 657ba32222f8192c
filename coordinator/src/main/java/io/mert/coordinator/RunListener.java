package io.mert.coordinator;

import com.fasterxml.jackson.databind.node.ObjectNode;

/** Local callbacks for whoever started the coordinator in this JVM (the CLI, tests). */
public interface RunListener {
    default void onStep(ObjectNode metrics) {
    }

    default void onEvent(String event, ObjectNode details) {
    }

    default void onFinished(long completedSteps) {
    }

    default void onFailed(String reason) {
    }

    RunListener NONE = new RunListener() {
    };
}
