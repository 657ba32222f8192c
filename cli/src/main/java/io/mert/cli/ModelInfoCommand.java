package io.mert.cli;

import io.mert.model.MertConfig;
import io.mert.model.hf.LayoutSummary;
import io.mert.model.nn.MertLayout;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "model-info", mixinStandardHelpOptions = true,
        description = "The parameter layout of a model (names as HuggingFace spells them, shapes, counts) and its totals.")
final class ModelInfoCommand implements Callable<Integer> {

    static final class Source {
        @Option(names = "--preset", description = "tiny, MERT-95M or MERT-330M")
        String preset;

        @Option(names = "--checkpoint", description = "a checkpoint directory (RUN/checkpoints/step-NNNNNNNNN)")
        Path checkpoint;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    @Override
    public Integer call() throws Exception {
        MertConfig config;
        String title;
        if (source.preset != null) {
            config = MertConfig.preset(source.preset);
            title = "preset " + source.preset;
        } else {
            config = CheckpointModel.open(source.checkpoint).model();
            title = "checkpoint " + source.checkpoint;
        }
        title += String.format(": %d x %d encoder, %d heads, FFN %d, %s, extractor %s, %d label stream(s)",
                config.encoderLayers(), config.encoderEmbedDim(), config.encoderAttentionHeads(), config.encoderFfnEmbedDim(),
                config.layerNormFirst() ? "pre-LN" : "post-LN", config.extractorMode(), config.labelClasses().size());
        System.out.print(LayoutSummary.format(title, MertLayout.of(config)));
        return 0;
    }
}
