package io.mert.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.mert.model.MertConfig;
import io.mert.model.checkpoint.CheckpointStore;
import io.mert.model.checkpoint.TrainerState;
import io.mert.model.config.ConfigTree;
import io.mert.model.config.TrainConfig;
import io.mert.model.hf.HfModelDir;
import io.mert.worker.SessionFactories;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "import-hf", mixinStandardHelpOptions = true,
        description = "Turn a HuggingFace MERT/HuBERT model directory into a run directory whose step-0 checkpoint "
                + "`mert extract` reads and `mert resume` continues training from (fresh optimizer state).")
final class ImportHfCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, description = "HF model directory: config.json plus model.safetensors or pytorch_model.bin")
    Path model;

    @Option(names = "--out", required = true, description = "new run directory")
    Path out;

    @Option(names = "--config", description = "training config (data, labels, optimisation) to continue pre-training with; "
            + "its model.* architecture keys are replaced by the imported ones")
    Path config;

    @Option(names = "--preset", description = "where the settings HF does not hold (final_dim, masking, loss) come from "
            + "when no --config is given; default: MERT-330M for a pre-LN model, else MERT-95M")
    String preset;

    @Option(names = "--label-classes", split = ",", description = "classes per label stream for the fresh prediction heads "
            + "(default: from --config's label dictionaries, else the preset's 8 x 1024)")
    List<Integer> labelClasses;

    @Parameters(arity = "0..*", paramLabel = "key=value", description = "config overrides, e.g. task.data=/data/manifest")
    List<String> overrides = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        ConfigTree tree = (config != null ? ConfigTree.load(config) : ConfigTree.empty()).withOverrides(overrides);
        boolean placeholderData = tree.get("task.data") == null;
        if (placeholderData) {
            // Extraction never reads data; training needs the real manifest directory here.
            tree = tree.withOverrides(List.of("task.data=" + out.toAbsolutePath().resolve("data")));
        }
        if (config == null && tree.get("model.preset") == null) {
            tree = tree.withOverrides(List.of("model.preset=" + (preset != null ? preset : presetFor(model))));
        }
        TrainConfig base = TrainConfig.from(tree);
        List<Integer> classes = labelClasses != null ? List.copyOf(labelClasses)
                : config != null ? SessionFactories.withLabelClasses(base).model().labelClasses()
                : base.model().labelClasses();
        HfModelDir.Imported imported = HfModelDir.read(model, base.model().withLabelClasses(classes), base.seed());

        ConfigTree runTree = tree.withOverrides(ModelKeys.overrides(imported.config()));
        TrainConfig cfg = TrainConfig.from(runTree);
        if (!cfg.model().withLabelClasses(classes).equals(imported.config())) {
            throw new IllegalStateException("the run config does not reproduce the imported architecture: " + cfg.model()
                    + " vs " + imported.config());
        }
        RunSetup.startNewRun(out, cfg);
        TrainerState state = TrainerState.builder().step(0).seed(cfg.seed()).globalBatchSize(cfg.globalBatch())
                .config(runTree.asMap()).extra("label_classes", classes)
                .extra("imported_from", model.toAbsolutePath().toString()).build();
        long n = imported.layout().totalSize();
        INDArray zeros = Nd4j.create(DataType.FLOAT, n);
        Path saved = new CheckpointStore(out, cfg.keepLast()).save(0, imported.layout(), imported.params(), zeros, zeros, 0, state);
        System.out.printf("import-hf: %s (%s) -> %s: %d tensors read; initialised fresh: %s%n", model,
                imported.report().file().getFileName(), saved, imported.report().tensorsRead(),
                imported.report().keptInitial().isEmpty() ? "none" : imported.report().keptInitial());
        if (placeholderData) {
            System.out.println("import-hf: set task.data (and the label settings) in " + out.resolve(RunSetup.CONFIG_FILE)
                    + " before `mert resume --run-dir " + out + "`; `mert extract --checkpoint " + saved + "` works as is");
        }
        return 0;
    }

    /** The preset whose pre-training settings fit the HF model: MERT-330M is the pre-LN one. */
    private static String presetFor(Path modelDir) {
        try {
            JsonNode json = new ObjectMapper().readTree(modelDir.resolve(HfModelDir.CONFIG).toFile());
            return json.path("do_stable_layer_norm").asBoolean(false) ? "MERT-330M" : "MERT-95M";
        } catch (java.io.IOException e) {
            return "MERT-95M"; // HfModelDir.read reports the unreadable config with its reason
        }
    }
}
