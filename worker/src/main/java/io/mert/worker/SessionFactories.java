package io.mert.worker;

import io.mert.data.LabelFile;
import io.mert.data.Manifest;
import io.mert.data.TrainingClips;
import io.mert.model.config.TrainConfig;
import io.mert.protocol.ShardPlan;

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
        List<Integer> classes = withLabelClasses(config).model().labelClasses();
        if (config.batchesByTokens()) {
            return TrainingClips.variable(manifest, labels, classes, config.shortestCrop(), config.maxSampleSize(),
                    config.model()::framesFor, config.model().frameStride(), config.model().sampleRate(), 1L << 30);
        }
        return new TrainingClips(manifest, labels, withLabelClasses(config).model().labelClasses(), config.maxSampleSize(),
                config.model().framesFor(config.maxSampleSize()));
    }

    /**
     * Which clips each rank trains on at each step: a fixed {@code dataset.global_batch_size}, or fairseq-style
     * batches of at most {@code dataset.max_tokens} samples over the clips' sizes.
     */
    public static ShardPlan plan(TrainConfig config, TrainingClips clips) {
        if (!config.batchesByTokens()) return new ShardPlan(config.seed(), config.globalBatch(), clips.size());
        int[] sizes = new int[clips.size()];
        long[] lengths = new long[clips.size()];
        for (int i = 0; i < sizes.length; i++) {
            sizes[i] = clips.sizeOf(i);
            lengths[i] = clips.lengthOf(i);
        }
        return ShardPlan.byTokens(config.seed(), config.maxTokens(), sizes, lengths);
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
