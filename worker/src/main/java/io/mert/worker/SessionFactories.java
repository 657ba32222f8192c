package io.mert.worker;

import io.mert.data.LabelFile;
import io.mert.data.Manifest;
import io.mert.data.TrainingClips;
import io.mert.model.config.TrainConfig;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** How a worker turns a training config into a session over the dataset it names. */
public final class SessionFactories {

    private SessionFactories() {
    }

    /** Reads {@code task.data/train.tsv} and the label streams {@code task.label_dir/train.<label>}. */
    public static final Worker.SessionFactory FROM_DATASET = (config, hash, ring) ->
            new TrainingSession(withLabelClasses(config), hash, trainingClips(config), ring);

    /** The usable training clips of a config: the index space the shard plan draws from. */
    public static TrainingClips trainingClips(TrainConfig config) throws IOException {
        Manifest manifest = Manifest.read(config.manifestDir().resolve("train.tsv"));
        List<Path> labels = new ArrayList<>();
        for (String label : config.labels()) labels.add(config.labelDir().resolve("train." + label));
        // every label is checked against its stream's dictionary: an out-of-range target is a clear error, not a wrong loss
        return new TrainingClips(manifest, labels, withLabelClasses(config).model().labelClasses(), config.maxSampleSize(),
                config.model().framesFor(config.maxSampleSize()));
    }

    /** The number of classes of each label stream, from fairseq's {@code dict.<label>.txt} files. */
    public static TrainConfig withLabelClasses(TrainConfig config) {
        List<Integer> classes = new ArrayList<>();
        try {
            for (String label : config.labels()) {
                classes.add(LabelFile.dictionarySize(config.labelDir().resolve("dict." + label + ".txt")));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e.getMessage(), e);
        }
        return config.withLabelClasses(classes);
    }
}
