package io.mert.cli;

import io.mert.data.Resampler;
import io.mert.data.WavFile;
import io.mert.data.audio.AudioDecoders;
import io.mert.data.audio.DecodedAudio;
import io.mert.model.nn.MertNetwork;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;

@Command(name = "extract", mixinStandardHelpOptions = true,
        description = "All hidden layers of a checkpoint's encoder for one audio file, as .npy [layers, time, dim].")
final class ExtractCommand implements Callable<Integer> {

    @Option(names = "--checkpoint", required = true, description = "checkpoint directory (RUN/checkpoints/step-NNNNNNNNN)")
    Path checkpoint;

    @Option(names = "--input", required = true, description = "audio file: WAV, FLAC, Ogg Vorbis or MP3, any rate and channel count (downmixed, resampled)")
    Path input;

    @Option(names = "--output", required = true, description = "output .npy")
    Path output;

    @Option(names = "--reduce", defaultValue = "none", description = "none, or mean (average over time: [layers, dim])")
    String reduce;

    @Override
    public Integer call() throws Exception {
        if (!reduce.equals("none") && !reduce.equals("mean")) {
            throw new IllegalArgumentException("--reduce " + reduce + ": allowed values are none, mean");
        }
        DecodedAudio decoded = AudioDecoders.decode(input); // WAV, FLAC, Ogg Vorbis or MP3, by content
        WavFile.Audio audio = new WavFile.Audio(decoded.mono(), decoded.sampleRate());
        try (MertNetwork net = Extraction.load(checkpoint)) {
            int rate = net.config().sampleRate();
            float[] wave = audio.sampleRate() == rate ? audio.samples() : Resampler.resample(audio.samples(), audio.sampleRate(), rate);
            if (net.config().framesFor(wave.length) < 1) {
                throw new IllegalArgumentException(input + " is too short: " + wave.length + " samples at " + rate + " Hz give no frame");
            }
            long[] shape = Extraction.writeNpy(output, net.hiddenStates(wave), reduce.equals("mean"));
            System.out.println("extract: " + input + " -> " + output + " shape " + Arrays.toString(shape));
        }
        return 0;
    }
}
