package io.mert.model.nn;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.random.impl.BernoulliDistribution;
import org.nd4j.linalg.factory.Nd4j;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Inverted-dropout masks (0 or 1/(1-p)) for the training graph's dropout placeholders, drawn with
 * ND4J's native generator seeded per step, reused across steps of the same batch size.
 */
final class DropoutMasks {

    private final List<MertGraph.DropoutSite> sites;
    private final Map<String, INDArray> arrays = new HashMap<>();
    private long batch = -1;

    DropoutMasks(List<MertGraph.DropoutSite> sites) {
        this.sites = sites;
    }

    /** Fills a fresh set of masks for {@code batchSize} examples from {@code seed} and puts them into {@code placeholders}. */
    void fill(int batchSize, long seed, Map<String, INDArray> placeholders) {
        if (sites.isEmpty()) return;
        if (batchSize != batch) {
            arrays.clear();
            for (MertGraph.DropoutSite s : sites) {
                long[] shape = new long[s.shape().length + 1];
                shape[0] = batchSize;
                System.arraycopy(s.shape(), 0, shape, 1, s.shape().length);
                arrays.put(s.placeholder(), Nd4j.create(DataType.FLOAT, shape));
            }
            batch = batchSize;
        }
        Nd4j.getRandom().setSeed(seed);
        for (MertGraph.DropoutSite s : sites) {
            INDArray a = arrays.get(s.placeholder());
            double keep = 1.0 - s.p();
            Nd4j.getExecutioner().exec(new BernoulliDistribution(a, keep));
            if (s.rescale()) a.muli(1.0 / keep);
            placeholders.put(s.placeholder(), a);
        }
    }
}
