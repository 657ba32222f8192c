package io.mert.cli;

import io.mert.model.ParameterLayout;
import io.mert.model.hf.HfModelDir;
import io.mert.model.hf.HfWeights;
import io.mert.model.nn.MertLayout;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "export-hf", mixinStandardHelpOptions = true,
        description = "Write a checkpoint's encoder as a HuggingFace MERT model directory "
                + "(config.json, model.safetensors, preprocessor_config.json).")
final class ExportHfCommand implements Callable<Integer> {

    @Option(names = "--checkpoint", required = true, description = "checkpoint directory (RUN/checkpoints/step-NNNNNNNNN)")
    Path checkpoint;

    @Option(names = "--out", required = true, description = "new (or empty) output directory")
    Path out;

    @Override
    public Integer call() throws Exception {
        CheckpointModel c = CheckpointModel.open(checkpoint);
        ParameterLayout layout = MertLayout.of(c.model());
        INDArray params = Nd4j.create(DataType.FLOAT, layout.totalSize());
        c.checkpoint().readModel(layout, params);
        HfModelDir.export(c.model(), layout, params, out, Map.of("format", "pt", "source", "mert-trainer",
                "step", Long.toString(c.checkpoint().step())));
        System.out.printf("export-hf: %s (step %d) -> %s: %,d encoder parameters; the pre-training heads (%,d) stay in the checkpoint%n",
                checkpoint, c.checkpoint().step(), out, HfWeights.hfParameterCount(layout),
                layout.totalSize() - HfWeights.hfParameterCount(layout));
        return 0;
    }
}
