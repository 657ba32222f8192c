package io.mert.cli;

import io.mert.coordinator.CoordinatorSettings;
import io.mert.coordinator.RunListener;
import io.mert.model.config.TrainConfig;

import java.nio.file.Path;
import java.time.Duration;

/** Trains a fresh run on a two-worker in-process cluster and stops it as soon as its first checkpoint is saved. */
final class StopAtFirstCheckpoint {

    private StopAtFirstCheckpoint() {}

    static LocalCluster.Outcome train(TrainConfig cfg, Path run, int datasetSize) throws Exception {
        LocalCluster[] cluster = new LocalCluster[1];
        RunListener stopAfterFirstCheckpoint = new RunListener() {
            @Override
            public void onEvent(String event, com.fasterxml.jackson.databind.node.ObjectNode d) {
                if (event.equals("checkpoint_saved")) cluster[0].stop("test: stop after the first checkpoint");
            }
        };
        synchronized (cluster) {
            cluster[0] = LocalCluster.start(CoordinatorSettings.fresh(cfg, run, datasetSize), 2,
                    TensorBoardLog.open(run, stopAfterFirstCheckpoint));
        }
        try {
            return cluster[0].await(Duration.ofMinutes(8));
        } finally {
            cluster[0].close();
        }
    }
}
