package io.mert.model.checkpoint;

import io.mert.model.ParameterLayout;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A checkpoint directory whose checksums and headers have been verified. The tensors are read on
 * demand into buffers the caller owns, so no second model-sized copy is made.
 */
public final class LoadedCheckpoint {

    private static final Logger LOG = LoggerFactory.getLogger(LoadedCheckpoint.class);

    private final Path dir;
    private final long step;
    private final TrainerState state;
    private final long optimizerStep;
    private final Map<String, String> modelMetadata;

    LoadedCheckpoint(Path dir, long step, TrainerState state, long optimizerStep, Map<String, String> modelMetadata) {
        this.dir = dir;
        this.step = step;
        this.state = state;
        this.optimizerStep = optimizerStep;
        this.modelMetadata = modelMetadata;
    }

    public Path dir() {
        return dir;
    }

    public long step() {
        return step;
    }

    public TrainerState state() {
        return state;
    }

    /** AdamW's step counter at save time (restore it with {@code AdamW.setStepCount}). */
    public long optimizerStep() {
        return optimizerStep;
    }

    public Map<String, String> modelMetadata() {
        return modelMetadata;
    }

    public Path modelFile() {
        return dir.resolve(CheckpointStore.MODEL_FILE);
    }

    public Path optimizerFile() {
        return dir.resolve(CheckpointStore.OPTIMIZER_FILE);
    }

    /** Fills {@code params} (flat, layout-sized) from model.safetensors; fails on missing or mis-shaped tensors. */
    public void readModel(ParameterLayout layout, INDArray params) throws IOException {
        rejectExtras(modelFile(), SafeTensors.readInto(modelFile(), layout, params, ""));
    }

    /** Fills the two moment buffers from optimizer.safetensors. */
    public void readOptimizer(ParameterLayout layout, INDArray expAvg, INDArray expAvgSq) throws IOException {
        List<String> unusedAfterAvg = SafeTensors.readInto(optimizerFile(), layout, expAvg, CheckpointStore.EXP_AVG_PREFIX);
        List<String> unusedAfterSq = SafeTensors.readInto(optimizerFile(), layout, expAvgSq, CheckpointStore.EXP_AVG_SQ_PREFIX);
        // Each read leaves the other prefix's tensors unused; only names unused by both are foreign.
        rejectExtras(optimizerFile(), unusedAfterSq.stream().filter(unusedAfterAvg::contains).toList());
    }

    private static void rejectExtras(Path file, List<String> extras) throws CheckpointFormatException {
        if (!extras.isEmpty()) {
            // A checkpoint written by this trainer has exactly the layout's tensors: extras mean a different model.
            throw new CheckpointFormatException(file + " holds " + extras.size() + " tensor(s) the model does not have, e.g. "
                    + extras.subList(0, Math.min(10, extras.size())) + ": checkpoint of a different model configuration?");
        }
        LOG.debug("{}: all tensors matched the layout", file);
    }

    @Override
    public String toString() {
        return dir + " (" + state.summary() + ")";
    }
}
