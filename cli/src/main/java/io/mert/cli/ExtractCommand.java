package io.mert.cli;

import io.mert.data.Resampler;
import io.mert.data.Manifest;
import io.mert.model.checkpoint.AtomicFiles;
import io.mert.data.audio.AudioDecoders;
import io.mert.data.audio.DecodedAudio;
import io.mert.model.nn.MertNetwork;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Arrays;
import java.util.concurrent.Callable;

@Command(name = "extract", mixinStandardHelpOptions = true,
        description = {"All hidden layers of a checkpoint's encoder, as .npy [layers, time, dim] (HF output_hidden_states), "
                + "for one audio file or every file of a manifest.",
                "Input is resampled to the model's rate; long audio runs in windows of --window-seconds."})
final class ExtractCommand implements Callable<Integer> {

    @Option(names = "--checkpoint", required = true, description = "checkpoint directory (RUN/checkpoints/step-NNNNNNNNN), ours or from import-hf")
    Path checkpoint;

    @picocli.CommandLine.ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    static final class Source {
        @picocli.CommandLine.ArgGroup(exclusive = false)
        One one;
        @picocli.CommandLine.ArgGroup(exclusive = false)
        Many many;
    }

    static final class One {
        @Option(names = "--input", required = true, description = "audio file: WAV, FLAC, Ogg Vorbis, MP3, Ogg Opus, AAC (M4A/ADTS), or anything ffmpeg reads when it is installed; any rate and channel count (downmixed, resampled)")
        Path input;
        @Option(names = "--output", required = true, description = "output .npy")
        Path output;
    }

    static final class Many {
        @Option(names = "--manifest", required = true, description = "a MERT/HuBERT manifest .tsv: every entry is extracted")
        Path manifest;
        @Option(names = "--output-dir", required = true, description = "outputs mirror the manifest's relative paths, with .npy")
        Path outputDir;
    }

    @Option(names = "--reduce", defaultValue = "none", description = "none, or mean (average over time: [layers, dim])")
    String reduce;

    @Option(names = "--window-seconds", defaultValue = "30", description = "longest audio run at once; longer audio is cut into "
            + "windows of this length, attention within each (default ${DEFAULT-VALUE})")
    double windowSeconds;

    @Override
    public Integer call() throws Exception {
        if (!reduce.equals("none") && !reduce.equals("mean")) {
            throw new IllegalArgumentException("--reduce " + reduce + ": allowed values are none, mean");
        }
        if (!(windowSeconds >= 1)) throw new IllegalArgumentException("--window-seconds must be >= 1, got " + windowSeconds);
        try (MertNetwork net = Extraction.load(checkpoint)) {
            int windowFrames = Math.max(1, (int) (windowSeconds * net.config().sampleRate() / net.config().frameStride()));
            if (source.one != null) {
                long[] shape = extract(net, source.one.input, source.one.output, windowFrames);
                System.out.println("extract: " + source.one.input + " -> " + source.one.output + " shape " + Arrays.toString(shape));
                return 0;
            }
            return extractManifest(net, windowFrames);
        }
    }

    private int extractManifest(MertNetwork net, int windowFrames) throws Exception {
        Manifest m = Manifest.read(source.many.manifest);
        List<String> skipped = new ArrayList<>();
        ProgressBar bar = ProgressBar.onConsole("extract", "files", m.size());
        for (int i = 0; i < m.size(); i++) {
            bar.update(i);
            String rel = m.entry(i).path();
            Path out = source.many.outputDir.resolve(rel.replaceFirst("\\.[^./]+$", "") + ".npy");
            try {
                extract(net, m.resolve(i), out, windowFrames);
            } catch (IOException | IllegalArgumentException e) {
                skipped.add(rel + "\t" + e.getMessage().replace('\t', ' ').replace('\n', ' '));
                bar.clear();
                System.out.printf("[%d/%d] %s skipped: %s%n", i + 1, m.size(), rel, e.getMessage());
            }
        }
        bar.update(m.size());
        bar.finish();
        if (!skipped.isEmpty()) {
            AtomicFiles.writeString(source.many.outputDir.resolve("skipped.tsv"), String.join("\n", skipped) + "\n");
        }
        System.out.printf("extract: %d of %d files -> %s%s%n", m.size() - skipped.size(), m.size(), source.many.outputDir,
                skipped.isEmpty() ? "" : "; " + skipped.size() + " skipped, listed in skipped.tsv");
        return skipped.size() == m.size() && m.size() > 0 ? 1 : 0;
    }

    private long[] extract(MertNetwork net, Path input, Path output, int windowFrames) throws IOException {
        DecodedAudio decoded = AudioDecoders.decode(input); // by content; ffmpeg for what Java does not decode
        int rate = net.config().sampleRate();
        float[] mono = decoded.mono();
        float[] wave = decoded.sampleRate() == rate ? mono : Resampler.resample(mono, decoded.sampleRate(), rate);
        int frames = net.config().framesFor(wave.length);
        if (frames < 1) {
            throw new IllegalArgumentException(input + " is too short: " + wave.length + " samples at " + rate + " Hz give no frame");
        }
        return HiddenStateFile.write(output, net.config().encoderLayers() + 1, frames, net.config().encoderEmbedDim(),
                reduce.equals("mean"), sink -> WindowedHiddenStates.run(net, wave, windowFrames, sink));
    }
}
