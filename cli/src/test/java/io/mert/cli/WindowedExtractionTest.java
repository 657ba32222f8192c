package io.mert.cli;

import io.mert.data.WavFile;
import io.mert.model.MertConfig;
import io.mert.model.ParameterLayout;
import io.mert.model.checkpoint.FloatTensor;
import io.mert.model.checkpoint.Npy;
import io.mert.model.hf.HfModelDir;
import io.mert.model.nn.MertLayout;
import io.mert.model.nn.MertNetwork;
import io.mert.model.nn.ParameterInit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Long audio in windows: frames land where a whole-file pass puts them, and the manifest mode skips what it cannot read. */
class WindowedExtractionTest {

    private static final MertConfig TINY = MertConfig.tiny();

    private static float[] tone(int n) {
        float[] w = new float[n];
        java.util.SplittableRandom r = new java.util.SplittableRandom(3);
        for (int i = 0; i < n; i++) w[i] = (float) (0.3 * Math.sin(2 * Math.PI * (200 + i / 600.0) * i / 24000.0) + 0.02 * r.nextDouble());
        return w;
    }

    /** Layer-norm extractor and pre-LN encoder: hidden state 0 depends only on nearby samples (group norm does not). */
    private static MertConfig local() {
        MertConfig t = TINY;
        return new MertConfig(t.convFeatureLayers(), "layer_norm", t.encoderLayers(), t.encoderEmbedDim(),
                t.encoderFfnEmbedDim(), t.encoderAttentionHeads(), true, t.convPos(), t.convPosGroups(),
                t.attentionRelax(), t.finalDim(), t.logitTemp(), t.maskProb(), t.maskLength(), t.featureGradMult(), t.dropout(),
                t.attentionDropout(), t.activationDropout(), t.dropoutInput(), t.dropoutFeatures(), t.encoderLayerdrop(),
                t.labelClasses(), t.cqtBins(), t.lossWeights(), t.sampleRate(), t.labelRate());
    }

    @Test
    void windowsCutOnTheFrameGridReproduceTheWholePassAwayFromTheirEdges(@TempDir Path tmp) throws Exception {
        float[] wave = tone(72_000); // 3 s: 224 frames
        int windowFrames = 60;
        try (MertNetwork net = new MertNetwork(local(), 16000, 5)) {
            assertEquals(1, TINY.framesFor(WindowedHiddenStates.samplesFor(TINY, 1)));
            assertEquals(0, TINY.framesFor(WindowedHiddenStates.samplesFor(TINY, 1) - 1), "the receptive field is the shortest input");
            assertEquals(windowFrames, TINY.framesFor(WindowedHiddenStates.samplesFor(TINY, windowFrames)));
            float[][][] whole = net.hiddenStates(wave);
            int frames = whole[0].length, layers = whole.length, dim = whole[0][0].length;
            float[][][] stitched = new float[layers][frames][];
            boolean[] edge = new boolean[frames];
            int got = WindowedHiddenStates.run(net, wave, windowFrames, (states, start, from, to) -> {
                assertEquals(windowFrames, states[0].length, "every window has the same length (one graph)");
                for (int l = 0; l < layers; l++) for (int f = from; f < to; f++) stitched[l][f] = states[l][f - start];
                for (int f = Math.max(0, start - 12); f < Math.min(frames, start + 12); f++) edge[f] = true;
                for (int f = Math.max(0, start + windowFrames - 12); f < Math.min(frames, start + windowFrames + 12); f++) edge[f] = true;
            });
            assertEquals(frames, got);
            // Layer 0 is the conv features (layer norms per frame) plus the positional conv (16 frames wide): local, so away from window
            // edges it equals the whole pass; an off-by-one window offset would break this everywhere.
            int compared = 0;
            for (int f = 0; f < frames; f++) {
                assertNotNull(stitched[0][f], "frame " + f + " written");
                if (edge[f]) continue;
                compared++;
                for (int d = 0; d < dim; d++) assertEquals(whole[0][f][d], stitched[0][f][d], 1e-4f, "layer 0, frame " + f);
            }
            assertTrue(compared > frames / 3, "compared " + compared + " interior frames");
            boolean attentionDiffers = false;
            for (int f = 0; f < frames && !attentionDiffers; f++) {
                attentionDiffers = Math.abs(whole[layers - 1][f][0] - stitched[layers - 1][f][0]) > 1e-4;
            }
            assertTrue(attentionDiffers, "attention sees only its window, so the top layer differs somewhere");

            // the .npy writer puts each window's rows in place, and the mean is over all frames
            Path full = tmp.resolve("h.npy"), mean = tmp.resolve("m.npy");
            HiddenStateFile.write(full, layers, frames, dim, false, sink -> WindowedHiddenStates.run(net, wave, windowFrames, sink));
            HiddenStateFile.write(mean, layers, frames, dim, true, sink -> WindowedHiddenStates.run(net, wave, windowFrames, sink));
            FloatTensor h = Npy.read(full), m = Npy.read(mean);
            assertArrayEquals(new long[] {layers, frames, dim}, h.shape());
            for (int l = 0; l < layers; l++) {
                for (int f = 0; f < frames; f += 37) {
                    for (int d = 0; d < dim; d += 7) assertEquals(stitched[l][f][d], h.data()[(l * frames + f) * dim + d], 0f);
                }
                double s = 0;
                for (int f = 0; f < frames; f++) s += stitched[l][f][3];
                assertEquals(s / frames, m.data()[l * dim + 3], 1e-5);
            }
        }
    }

    @Test
    void aManifestIsExtractedFileByFileAndUnreadableFilesAreSkipped(@TempDir Path tmp) throws Exception {
        ParameterLayout layout = MertLayout.of(TINY);
        INDArray params = Nd4j.create(DataType.FLOAT, layout.totalSize());
        ParameterInit.initialize(layout, params, 42);
        HfModelDir.export(TINY, layout, params, tmp.resolve("hf"), Map.of("format", "pt"));
        assertEquals(0, Mert.execute("import-hf", "--model", tmp.resolve("hf").toString(), "--out", tmp.resolve("run").toString(),
                "--preset", "tiny", "--label-classes", "32"));
        Path ckpt = tmp.resolve("run/checkpoints/step-000000000");

        Path audio = Files.createDirectories(tmp.resolve("audio/sub"));
        WavFile.writeMono(audio.resolve("a.wav"), tone(30_000), 24000, WavFile.Encoding.FLOAT_32);
        WavFile.writeMono(tmp.resolve("audio/b.wav"), tone(50_000), 16000, WavFile.Encoding.PCM_16);
        Files.write(tmp.resolve("audio/broken.wav"), new byte[] {'R', 'I', 'F', 'F', 1, 2, 3});
        Path manifest = tmp.resolve("train.tsv");
        Files.writeString(manifest, tmp.resolve("audio") + "\nsub/a.wav\t30000\nbroken.wav\t10\nb.wav\t50000\n");

        Path out = tmp.resolve("features");
        assertEquals(0, Mert.execute("extract", "--checkpoint", ckpt.toString(), "--manifest", manifest.toString(),
                "--output-dir", out.toString(), "--window-seconds", "1"));
        FloatTensor a = Npy.read(out.resolve("sub/a.npy"));
        assertArrayEquals(new long[] {TINY.encoderLayers() + 1, TINY.framesFor(30_000), TINY.encoderEmbedDim()}, a.shape());
        FloatTensor b = Npy.read(out.resolve("b.npy"));
        assertEquals(TINY.framesFor(75_000), b.shape()[1], "16 kHz input resampled to 24 kHz first");
        assertFalse(Files.exists(out.resolve("broken.npy")));
        String skipped = Files.readString(out.resolve("skipped.tsv"));
        assertTrue(skipped.startsWith("broken.wav\t") && skipped.contains("broken.wav"), skipped);
    }
}
