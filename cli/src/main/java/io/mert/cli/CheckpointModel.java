package io.mert.cli;

import io.mert.model.MertConfig;
import io.mert.model.checkpoint.CheckpointStore;
import io.mert.model.checkpoint.LoadedCheckpoint;
import io.mert.model.config.ConfigTree;
import io.mert.model.config.TrainConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A checkpoint directory opened (checksums verified) with the model architecture it was saved with. */
record CheckpointModel(LoadedCheckpoint checkpoint, TrainConfig trainConfig, MertConfig model) {

    static CheckpointModel open(Path checkpoint) throws IOException {
        if (!Files.isDirectory(checkpoint)) {
            throw new IllegalArgumentException(checkpoint + " is not a checkpoint directory (expected RUN/checkpoints/step-NNNNNNNNN)");
        }
        Path abs = checkpoint.toAbsolutePath().normalize();
        if (abs.getParent() == null || abs.getParent().getParent() == null) {
            throw new IllegalArgumentException(checkpoint + " is not inside RUN/checkpoints/");
        }
        LoadedCheckpoint c = new CheckpointStore(abs.getParent().getParent(), Integer.MAX_VALUE).load(abs);
        TrainConfig cfg = TrainConfig.from(ConfigTree.fromMap(c.state().config()));
        List<Integer> classes = new ArrayList<>();
        Object stored = c.state().extra().get("label_classes");
        if (stored instanceof List<?> l) for (Object o : l) classes.add(((Number) o).intValue());
        MertConfig model = classes.isEmpty() ? cfg.model() : cfg.model().withLabelClasses(classes);
        return new CheckpointModel(c, cfg, model);
    }
}
