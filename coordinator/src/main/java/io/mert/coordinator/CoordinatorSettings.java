package io.mert.coordinator;

import io.mert.model.config.TrainConfig;
import io.mert.protocol.ShardPlan;

import java.nio.file.Path;
import java.time.Duration;

/**
 * What a coordinator needs to drive a run.
 *
 * @param plan              which clips each step trains on (its index space: the usable training clips)
 * @param startStep         completed updates to start from (0 for a fresh run, the checkpoint's step on resume)
 * @param startGeneration   generation numbers continue from here, so a resumed run never reuses one
 * @param restoreCheckpoint checkpoint directory every worker loads when the run starts, or null
 * @param trainingSecondsBefore wall-clock training time of the run before this coordinator started
 */
public record CoordinatorSettings(
        TrainConfig config,
        Path runDir,
        ShardPlan plan,
        long startStep,
        long startGeneration,
        Path restoreCheckpoint,
        double trainingSecondsBefore,
        Duration stepTimeout) {

    /** A fresh run with a fixed {@code dataset.global_batch_size} over {@code datasetSize} usable clips. */
    public static CoordinatorSettings fresh(TrainConfig config, Path runDir, int datasetSize) {
        if (config.batchesByTokens()) {
            throw new IllegalArgumentException("dataset.max_tokens batches need the clips' sizes: pass the run's ShardPlan");
        }
        return fresh(config, runDir, new ShardPlan(config.seed(), config.globalBatch(), datasetSize));
    }

    public static CoordinatorSettings fresh(TrainConfig config, Path runDir, ShardPlan plan) {
        return new CoordinatorSettings(config, runDir, plan, 0, 0, null, 0,
                Duration.ofMillis((long) (config.stepTimeoutSeconds() * 1000)));
    }

    /** Number of usable training clips. */
    public int datasetSize() {
        return plan.datasetSize();
    }

    public CoordinatorSettings resumingFrom(Path checkpoint, long step, long generation, double trainingSeconds) {
        return new CoordinatorSettings(config, runDir, plan, step, generation, checkpoint, trainingSeconds, stepTimeout);
    }
}
