package io.mert.worker;

import io.mert.data.Manifest;
import io.mert.data.TrainingClips;
import io.mert.data.UnreadableAudioException;
import io.mert.model.Batch;
import io.mert.model.config.MixupConfig;
import io.mert.model.config.TrainConfig;
import io.mert.model.features.Cqt;
import io.mert.model.nn.MertNetwork;
import io.mert.model.nn.StepStats;
import io.mert.protocol.ShardPlan;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The validation split ({@code <dataset.valid_subset>.tsv} and its {@code .<label>} files next to
 * train's) and a rank's share of a validation pass. Clip {@code i} is cropped and masked with seeds
 * drawn from {@code (seed, i)} alone and evaluated on its own (batch of one, eval mode), so a clip's
 * numbers do not depend on which rank evaluates it or with whom: sums over ranks agree for any world
 * size up to the order of the additions. Rank r takes a contiguous slice of the clips.
 */
final class ValidationSet {

    private static final long VALID_SEED = 0x56414c4944L; // "VALID"

    /** One rank's sums. */
    record Sums(int clips, int skipped, long maskedFrames, double loss, double[] crossEntropy, long[] correct, double cqt) {
    }

    private final TrainingClips clips; // null when unavailable
    private final String unavailable;
    private final BatchAssembler batches;
    private final int count;

    private ValidationSet(TrainingClips clips, String unavailable, BatchAssembler batches, int count) {
        this.clips = clips;
        this.unavailable = unavailable;
        this.batches = batches;
        this.count = count;
    }

    /** Opens the split a config names; a missing or empty split is "unavailable", with the reason. */
    static ValidationSet open(TrainConfig config) throws IOException {
        String split = config.validSubset();
        Path tsv = config.manifestDir().resolve(split + ".tsv");
        if (!Files.isRegularFile(tsv)) return unavailable("no " + tsv);
        Manifest manifest = Manifest.read(tsv);
        if (manifest.size() == 0) return unavailable(tsv + " is empty");
        List<Path> labels = new ArrayList<>();
        for (String label : config.labels()) labels.add(config.labelDir().resolve(split + "." + label));
        for (Path l : labels) if (!Files.isRegularFile(l)) return unavailable("no label file " + l + " for " + tsv);
        TrainingClips clips = new TrainingClips(manifest, labels, config.model().labelClasses(), config.maxSampleSize(),
                config.model().framesFor(config.maxSampleSize()), config.model().frameStride(), config.model().sampleRate(), 256L << 20);
        if (clips.size() == 0) return unavailable("no clip of " + tsv + " is as long as a crop of " + config.maxSampleSize() + " samples");
        int count = clips.size();
        if (config.maxValidSteps() > 0) count = (int) Math.min(count, (long) config.maxValidSteps() * config.clipsPerStepAtLeast());
        BatchAssembler batches = new BatchAssembler(config.model(), new io.mert.data.ReadableClips(clips), true, Cqt.mert(),
                config.maxSampleSize(), config.seed() ^ VALID_SEED, MixupConfig.OFF);
        return new ValidationSet(clips, null, batches, count);
    }

    private static ValidationSet unavailable(String why) {
        return new ValidationSet(null, why, null, 0);
    }

    /** Why there is nothing to validate on, or null. */
    String unavailable() {
        return unavailable;
    }

    /** Evaluates rank's slice of the (first {@code count}) clips with the network's current parameters. */
    Sums evaluate(MertNetwork network, int streams, int rank, int worldSize) {
        int from = 0, n = 0;
        if (rank < count) { // more ranks than clips: the extra ranks evaluate nothing
            int ranks = Math.min(worldSize, count);
            from = ShardPlan.sliceStart(rank, ranks, count);
            n = ShardPlan.sliceSize(rank, ranks, count);
        }
        double loss = 0, cqt = 0;
        double[] ce = new double[streams];
        long[] correct = new long[streams];
        long frames = 0;
        int done = 0, skipped = 0;
        for (int i = from; i < from + n; i++) {
            byte[] mask = batches.mask(i);
            int masked = 0;
            for (byte b : mask) masked += b;
            Batch batch;
            try {
                batch = batches.assemble(new int[]{i}, new long[]{i}, masked);
            } catch (UnreadableAudioException e) {
                skipped++;
                continue;
            }
            StepStats s = network.evaluate(batch);
            loss += s.loss();
            cqt += s.cqtMse() * s.maskedFrames();
            frames += s.maskedFrames();
            for (int k = 0; k < streams; k++) {
                ce[k] += s.crossEntropySum()[k];
                correct[k] += s.correct()[k];
            }
            done++;
        }
        return new Sums(done, skipped, frames, loss, ce, correct, cqt);
    }
}
