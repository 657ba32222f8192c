package io.mert.worker;

import io.mert.data.LabelDictionary;
import io.mert.data.Manifest;
import io.mert.data.TrainingClips;
import io.mert.model.config.TrainConfig;

import java.util.ArrayList;
import java.util.List;

/** How a worker turns a training config into a session over the dataset it names. */
public final class SessionFactories {

    private SessionFactories() {
    }

    /** Reads {@code task.data/train.tsv} and the label streams {@code task.label_dir/train.<label>}. */
    public static final Worker.SessionFactory FROM_DATASET = (config, hash, ring) -> {
        TrainConfig resolved = withLabelClasses(config);
        TrainingClips clips = TrainingClips.open(resolved.manifestDir().resolve("train.tsv"), resolved.labelDir(), "train",
                resolved.labels(), resolved.maxSampleSize(), resolved.model());
        return new TrainingSession(resolved, hash, clips, ring);
    };

    /** The number of classes of each label stream, from fairseq's {@code dict.<label>.txt} files. */
    public static TrainConfig withLabelClasses(TrainConfig config) {
        List<Integer> classes = new ArrayList<>();
        for (String label : config.labels()) classes.add(LabelDictionary.read(config.labelDir(), label).size());
        return config.withLabelClasses(classes);
    }
}
