package io.mert.worker;

import io.mert.data.ReadableClips;
import io.mert.data.TrainingClips;
import io.mert.model.Batch;
import io.mert.model.MertConfig;
import io.mert.model.config.MixupConfig;
import io.mert.model.features.Cqt;
import io.mert.protocol.ShardPlan;

import java.util.List;

/**
 * The batch a rank builds before each step's forward pass: the shard plan's draws for (step, rank, world
 * size), each cropped, labelled, given its CQT target and span mask (and mixed when mixup is on), an
 * unreadable clip replaced by the next readable one. {@code TrainingSession.run} builds its batches here,
 * and {@code mert bench loader} times exactly this.
 */
public final class StepBatches {

    /**
     * A rank's batch, the digest of its (manifest index, serial) draws, which the coordinator checks (a
     * replaced draw counts as its replacement), and the draws that were replaced.
     */
    public record Built(Batch batch, long digest, List<BatchAssembler.Replaced> replaced) {}

    private final BatchAssembler assembler;
    private final ShardPlan plan;

    /** Unreadable clips are skipped (not strict), as in a default training run. */
    public StepBatches(MertConfig model, TrainingClips clips, int cropSamples, long seed, int globalBatch, MixupConfig mixup) {
        this(new BatchAssembler(model, new ReadableClips(clips), false, Cqt.mert(), cropSamples, seed, mixup),
                new ShardPlan(seed, globalBatch, clips.size()));
    }

    /** As above over any shard plan (batches by tokens among them); unreadable clips are skipped. */
    public StepBatches(MertConfig model, TrainingClips clips, ShardPlan plan, long seed, MixupConfig mixup) {
        this(new BatchAssembler(model, new ReadableClips(clips), false, Cqt.mert(), clips.cropSamples(), seed, mixup), plan);
    }

    StepBatches(BatchAssembler assembler, ShardPlan plan) {
        this.assembler = assembler;
        this.plan = plan;
    }

    /** The plan the batches follow. */
    public ShardPlan plan() {
        return plan;
    }

    /**
     * @throws io.mert.data.UnreadableAudioException when a clip cannot be read and the assembler is
     *                                               strict (or nothing readable is left)
     */
    public Built build(long step, int rank, int worldSize) {
        int[] indices = plan.manifestIndices(step, rank, worldSize);
        long[] serials = new long[indices.length];
        for (int j = 0; j < indices.length; j++) serials[j] = plan.sampleSerial(step, rank, worldSize, j);
        // batches by tokens: the step's clips are cropped to its shortest (MERT's collater, pad_audio false)
        int crop = plan.batchesByTokens() ? plan.cropSamples(step) : assembler.cropSamples();
        int globalBatch = plan.batchSize(step);
        double penaltyScale = (double) indices.length / globalBatch * assembler.globalMaskedFrames(plan, step, globalBatch, crop);
        BatchAssembler.Assembled rows;
        if (assembler.mixes()) {
            int[] all = plan.manifestIndices(step, 0, 1);
            long[] allSerials = new long[all.length];
            for (int j = 0; j < all.length; j++) allSerials[j] = plan.sampleSerial(step, 0, 1, j);
            rows = assembler.assembleRows(indices, serials, penaltyScale, all, allSerials, crop);
        } else {
            rows = assembler.assembleRows(indices, serials, penaltyScale, null, null, crop);
        }
        long digest = 0;
        for (int j = 0; j < indices.length; j++) digest += ShardPlan.mix(rows.indices()[j], serials[j]);
        return new Built(rows.batch(), digest, rows.replaced());
    }
}
