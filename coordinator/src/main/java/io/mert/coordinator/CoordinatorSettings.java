package io.mert.coordinator;

import io.mert.model.config.TrainConfig;

import java.nio.file.Path;
import java.time.Duration;

/**
 * What a coordinator needs to drive a run.
 *
 * @param datasetSize       number of usable training clips (the index space of {@link io.mert.protocol.ShardPlan})
 * @param startStep         completed updates to start from (0 for a fresh run, the checkpoint's step on resume)
 * @param startGeneration   generation numbers continue from here, so a resumed run never reuses one
 * @param restoreCheckpoint checkpoint directory every worker loads when the run starts, or null
 * @param trainingSecondsBefore wall-clock training time of the run before this coordinator started
 */
public record CoordinatorSettings(
        TrainConfig config,
        Path runDir,
        int datasetSize,
        long startStep,
        long startGeneration,
        Path restoreCheckpoint,
        double trainingSecondsBefore,
        Duration stepTimeout) {

    public static CoordinatorSettings fresh(TrainConfig config, Path runDir, int datasetSize) {
        return new CoordinatorSettings(config, runDir, datasetSize, 0, 0, null, 0,
                Duration.ofMillis((long) (config.stepTimeoutSeconds() * 1000)));
    }

    public CoordinatorSettings resumingFrom(Path checkpoint, long step, long generation, double trainingSeconds) {
        return new CoordinatorSettings(config, runDir, datasetSize, step, generation, checkpoint, trainingSeconds, stepTimeout);
    }
}
