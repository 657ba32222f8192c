package io.mert.worker;

import io.mert.data.ReadableClips;
import io.mert.data.TrainingClips;
import io.mert.model.Batch;
import io.mert.model.MertConfig;
import io.mert.model.config.MixupConfig;
import io.mert.model.features.Cqt;
import io.mert.protocol.ShardPlan;

/**
 * The batch a rank builds before each step's forward pass: the shard plan's draws for (step, rank, world
 * size), each cropped, labelled, given its CQT target and span mask (and mixed when mixup is on), an
 * unreadable clip replaced by the next readable one. Public so that {@code mert bench loader} times what a
 * worker runs: the same {@link BatchAssembler} calls as {@code TrainingSession.run}, which keeps its own
 * copy of these few lines for its handling of unreadable audio.
 */
public final class StepBatches {

    /** A rank's batch and the digest of its (manifest index, serial) draws, which the coordinator checks. */
    public record Built(Batch batch, long digest) {}

    private final BatchAssembler assembler;
    private final ShardPlan plan;
    private final int globalBatch;

    public StepBatches(MertConfig model, TrainingClips clips, int cropSamples, long seed, int globalBatch, MixupConfig mixup) {
        this.assembler = new BatchAssembler(model, new ReadableClips(clips), false, Cqt.mert(), cropSamples, seed, mixup);
        this.plan = new ShardPlan(seed, globalBatch, clips.size());
        this.globalBatch = globalBatch;
    }

    public Built build(long step, int rank, int worldSize) {
        int[] indices = plan.manifestIndices(step, rank, worldSize);
        long[] serials = new long[indices.length];
        for (int j = 0; j < indices.length; j++) serials[j] = plan.sampleSerial(step, rank, worldSize, j);
        double penaltyScale = (double) indices.length / globalBatch * assembler.globalMaskedFrames(plan, step, globalBatch);
        BatchAssembler.Assembled rows;
        if (assembler.mixes()) {
            int[] all = plan.manifestIndices(step, 0, 1);
            long[] allSerials = new long[all.length];
            for (int j = 0; j < all.length; j++) allSerials[j] = plan.sampleSerial(step, 0, 1, j);
            rows = assembler.assembleRows(indices, serials, penaltyScale, all, allSerials);
        } else {
            rows = assembler.assembleRows(indices, serials, penaltyScale, null, null);
        }
        long digest = 0; // the samples actually trained on: a replaced draw counts as its replacement
        for (int j = 0; j < indices.length; j++) digest += ShardPlan.mix(rows.indices()[j], serials[j]);
        Batch batch = rows.batch();
        return new Built(batch, digest);
    }
}
