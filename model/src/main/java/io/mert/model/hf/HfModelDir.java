package io.mert.model.hf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.mert.model.MertConfig;
import io.mert.model.ParameterLayout;
import io.mert.model.checkpoint.AtomicFiles;
import io.mert.model.checkpoint.SafeTensors;
import io.mert.model.nn.MertLayout;
import io.mert.model.nn.ParameterInit;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;

/**
 * A HuggingFace model directory: {@code config.json}, the weights ({@code model.safetensors}, or
 * {@code pytorch_model.bin} when reading) and {@code preprocessor_config.json}.
 */
public final class HfModelDir {

    public static final String CONFIG = "config.json";
    public static final String SAFETENSORS = "model.safetensors";
    public static final String TORCH_BIN = "pytorch_model.bin";
    public static final String PREPROCESSOR = "preprocessor_config.json";

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private HfModelDir() {
    }

    /**
     * Writes {@code config.json}, {@code model.safetensors} (HF-held tensors only) and
     * {@code preprocessor_config.json} into {@code out}, all or nothing: the files go to a hidden
     * sibling directory, are fsynced, and the directory is renamed to {@code out}. An existing
     * {@code out} must be empty (it is replaced).
     */
    public static void export(MertConfig config, ParameterLayout layout, INDArray params, Path out, Map<String, String> metadata)
            throws IOException {
        Path target = out.toAbsolutePath().normalize();
        if (Files.exists(target)) {
            if (!Files.isDirectory(target)) throw new IllegalArgumentException(out + " exists and is not a directory");
            try (Stream<Path> s = Files.list(target)) {
                if (s.findAny().isPresent()) {
                    throw new IllegalArgumentException(out + " is not empty: choose a new directory (nothing is overwritten)");
                }
            }
        }
        Path parent = target.getParent();
        Files.createDirectories(parent);
        Path tmp = parent.resolve("." + target.getFileName() + ".tmp-" + Long.toHexString(ThreadLocalRandom.current().nextLong()));
        try {
            Files.createDirectory(tmp);
            writeSynced(tmp.resolve(CONFIG), JSON.writeValueAsBytes(HfConfig.toJson(config)));
            List<SafeTensors.Source> sources = HfWeights.sources(layout, params);
            try (FileChannel ch = FileChannel.open(tmp.resolve(SAFETENSORS), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                SafeTensors.write(ch, sources, metadata);
                ch.force(true);
            }
            writeSynced(tmp.resolve(PREPROCESSOR), JSON.writeValueAsBytes(HfConfig.preprocessorJson(config)));
            AtomicFiles.fsyncDirectory(tmp);
            if (Files.exists(target)) Files.delete(target); // empty, checked above
            AtomicFiles.moveAtomically(tmp, target);
            AtomicFiles.fsyncDirectory(parent);
        } catch (IOException | RuntimeException e) {
            try {
                AtomicFiles.deleteRecursively(tmp);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /** A model read from an HF directory; {@code params} is a new flat buffer laid out by {@code layout}. */
    public record Imported(MertConfig config, ParameterLayout layout, INDArray params, HfWeights.ReadReport report) {}

    /**
     * Reads an HF model directory. The architecture comes from {@code config.json}, pre-training
     * settings from {@code base} (see {@link HfConfig#fromJson}); tensors the directory lacks (the
     * pre-training heads, possibly masked_spec_embed) get our seeded initialisation.
     */
    public static Imported read(Path dir, MertConfig base, long initSeed) throws IOException {
        if (!Files.isDirectory(dir)) throw new IllegalArgumentException(dir + " is not a directory (expected an HF model directory)");
        Path configFile = dir.resolve(CONFIG);
        if (!Files.isRegularFile(configFile)) throw new IllegalArgumentException(dir + " has no " + CONFIG);
        JsonNode json;
        try {
            json = JSON.readTree(configFile.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException(configFile + " is not valid JSON: " + e.getMessage(), e);
        }
        MertConfig config = HfConfig.fromJson(json, base, configFile.toString());
        Path weights = weightsFile(dir);
        ParameterLayout layout = MertLayout.of(config);
        INDArray params = Nd4j.create(DataType.FLOAT, layout.totalSize());
        ParameterInit.initialize(layout, params, initSeed);
        HfWeights.ReadReport report = HfWeights.read(weights, layout, params);
        return new Imported(config, layout, params, report);
    }

    static Path weightsFile(Path dir) {
        Path st = dir.resolve(SAFETENSORS);
        if (Files.isRegularFile(st)) return st;
        Path bin = dir.resolve(TORCH_BIN);
        if (Files.isRegularFile(bin)) return bin;
        if (Files.exists(dir.resolve(SAFETENSORS + ".index.json")) || Files.exists(dir.resolve(TORCH_BIN + ".index.json"))) {
            throw new IllegalArgumentException(dir + " holds a sharded checkpoint (*.index.json), which is not supported: "
                    + "merge the shards into one " + SAFETENSORS);
        }
        throw new IllegalArgumentException(dir + " has neither " + SAFETENSORS + " nor " + TORCH_BIN);
    }

    private static void writeSynced(Path file, byte[] bytes) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            AtomicFiles.writeFully(ch, ByteBuffer.wrap(bytes));
            ch.force(true);
        }
    }
}
