package io.mert.model.hf;

import io.mert.model.ParameterLayout;
import io.mert.model.checkpoint.CheckpointFormatException;
import io.mert.model.checkpoint.SafeTensors;
import io.mert.model.nn.MertLayout;
import io.mert.model.optim.FlatArrays;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.io.Closeable;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Tensor names between our layout and HuggingFace weight files. Our layout already uses HF's names;
 * what differs between files in the wild is the positional conv's weight norm
 * ({@code weight_g}/{@code weight_v}, or {@code parametrizations.weight.original0}/{@code original1} since
 * torch's parametrized weight_norm) and a model prefix ({@code mert_model.}, {@code hubert.}) that
 * task-head wrappers add. MERT's pre-training heads are not part of an HF model.
 */
public final class HfWeights {

    static final String POS_G = MertLayout.POS_CONV + "weight_g";
    static final String POS_V = MertLayout.POS_CONV + "weight_v";
    static final String POS_G_PARAM = MertLayout.POS_CONV + "parametrizations.weight.original0";
    static final String POS_V_PARAM = MertLayout.POS_CONV + "parametrizations.weight.original1";
    static final List<String> MODEL_PREFIXES = List.of("mert_model.", "hubert.");

    private HfWeights() {
    }

    /** MERT's pre-training heads ({@code final_proj}, {@code label_embs_concat}, the CQT head): not in HF's MERTModel. */
    public static boolean isPretrainingHead(String name) {
        return name.startsWith(MertLayout.FINAL_PROJ) || name.equals(MertLayout.LABEL_EMBS) || name.startsWith(MertLayout.CQT_HEAD);
    }

    /** The layout entries an HF model holds, in layout order. */
    public static List<ParameterLayout.Entry> hfEntries(ParameterLayout layout) {
        return layout.entries().stream().filter(e -> !isPretrainingHead(e.name())).toList();
    }

    /** Parameters an HF model holds: our encoder count. */
    public static long hfParameterCount(ParameterLayout layout) {
        return hfEntries(layout).stream().mapToLong(ParameterLayout.Entry::size).sum();
    }

    /** The HF-held tensors of {@code flat} as safetensors sources (weight norm as weight_g / weight_v). */
    public static List<SafeTensors.Source> sources(ParameterLayout layout, INDArray flat) {
        INDArray f = FlatArrays.requireFlatFloat(flat, layout.totalSize(), "parameters");
        return hfEntries(layout).stream().map(e -> new SafeTensors.Source(e.name(), e.shape(), f, e.offset())).toList();
    }

    /** What {@link #read} did besides copying tensors. */
    public record ReadReport(Path file, int tensorsRead, List<String> keptInitial) {}

    /**
     * Fills {@code flat} (laid out by {@code layout}, already initialised) from an HF weight file
     * ({@code .safetensors} or a torch.save {@code .bin}). Every encoder tensor must be present with
     * our shape; the pre-training heads and {@code masked_spec_embed} are taken when the file has
     * them and keep their initial values otherwise; a tensor the layout does not know is an error.
     */
    public static ReadReport read(Path file, ParameterLayout layout, INDArray flat) throws IOException {
        INDArray f = FlatArrays.requireFlatFloat(flat, layout.totalSize(), "parameters");
        try (TensorSource src = file.getFileName().toString().endsWith(".safetensors")
                ? new SafeTensorsSource(file) : new TorchSource(file)) {
            Map<String, String> ourToFile = ourNames(src.shapes().keySet().stream().toList(), file);
            List<String> missing = new ArrayList<>();
            List<String> kept = new ArrayList<>();
            int read = 0;
            for (ParameterLayout.Entry e : layout.entries()) {
                String fileName = ourToFile.remove(e.name());
                if (fileName == null) {
                    if (isPretrainingHead(e.name()) || e.name().equals(MertLayout.MASK_EMBED)) kept.add(e.name());
                    else missing.add(e.name());
                    continue;
                }
                long[] shape = src.shapes().get(fileName);
                if (!Arrays.equals(shape, e.shape())) {
                    throw new CheckpointFormatException(file + ": tensor '" + fileName + "' has shape " + Arrays.toString(shape)
                            + " but config.json describes " + Arrays.toString(e.shape()) + " for " + e.name());
                }
                src.read(fileName, f, e.offset());
                read++;
            }
            if (!missing.isEmpty()) {
                throw new CheckpointFormatException(file + ": " + missing.size() + " tensor(s) of the model described by config.json are missing, e.g. "
                        + missing.subList(0, Math.min(8, missing.size())));
            }
            if (!ourToFile.isEmpty()) {
                List<String> extra = new ArrayList<>(ourToFile.values());
                throw new CheckpointFormatException(file + " holds " + extra.size() + " tensor(s) this MERT architecture does not have, e.g. "
                        + extra.subList(0, Math.min(8, extra.size())) + " (a task head or a different model type?)");
            }
            FlatArrays.markHostWritten(f);
            return new ReadReport(file, read, kept);
        }
    }

    /** Our name for each file name (weight-norm spellings unified, a common model prefix dropped). */
    static Map<String, String> ourNames(List<String> fileNames, Path file) throws CheckpointFormatException {
        String prefix = "";
        for (String p : MODEL_PREFIXES) {
            if (!fileNames.isEmpty() && fileNames.stream().allMatch(n -> n.startsWith(p))) prefix = p;
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (String n : fileNames) {
            String ours = n.substring(prefix.length());
            if (ours.equals(POS_G_PARAM)) ours = POS_G;
            else if (ours.equals(POS_V_PARAM)) ours = POS_V;
            String previous = out.put(ours, n);
            if (previous != null) {
                throw new CheckpointFormatException(file + ": tensors '" + previous + "' and '" + n + "' both hold " + ours
                        + " (the old and the parametrized weight-norm names at once)");
            }
        }
        return out;
    }

    /** A weight file read one tensor at a time. */
    private interface TensorSource extends Closeable {
        Map<String, long[]> shapes();

        void read(String name, INDArray flat, long offset) throws IOException;
    }

    private static final class SafeTensorsSource implements TensorSource {
        private final FileChannel ch;
        private final SafeTensors.Header header;
        private final Map<String, long[]> shapes = new LinkedHashMap<>();

        SafeTensorsSource(Path file) throws IOException {
            ch = FileChannel.open(file, StandardOpenOption.READ);
            try {
                header = SafeTensors.readHeader(ch, file.toString());
            } catch (IOException | RuntimeException e) {
                ch.close();
                throw e;
            }
            header.tensors().forEach(t -> shapes.put(t.name(), t.shape()));
        }

        @Override
        public Map<String, long[]> shapes() {
            return shapes;
        }

        @Override
        public void read(String name, INDArray flat, long offset) throws IOException {
            SafeTensors.readTensor(ch, header, header.get(name), flat, offset);
        }

        @Override
        public void close() throws IOException {
            ch.close();
        }
    }

    private static final class TorchSource implements TensorSource {
        private final TorchCheckpointFile torch;
        private final Map<String, long[]> shapes = new LinkedHashMap<>();

        TorchSource(Path file) throws IOException {
            torch = TorchCheckpointFile.open(file);
            torch.tensors().forEach((k, t) -> shapes.put(k, t.shape()));
        }

        @Override
        public Map<String, long[]> shapes() {
            return shapes;
        }

        @Override
        public void read(String name, INDArray flat, long offset) throws IOException {
            float[] values = torch.read(name).data();
            if (values.length > 0) flat.get(NDArrayIndex.interval(offset, offset + values.length)).assign(Nd4j.createFromArray(values));
        }

        @Override
        public void close() throws IOException {
            torch.close();
        }
    }
}
