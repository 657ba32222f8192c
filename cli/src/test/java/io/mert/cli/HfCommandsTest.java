package io.mert.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mert.data.WavFile;
import io.mert.model.MertConfig;
import io.mert.model.ParameterLayout;
import io.mert.model.checkpoint.FloatTensor;
import io.mert.model.checkpoint.Npy;
import io.mert.model.checkpoint.SafeTensors;
import io.mert.model.hf.HfModelDir;
import io.mert.model.hf.HfWeights;
import io.mert.model.nn.MertLayout;
import io.mert.model.nn.MertNetwork;
import io.mert.model.nn.ParameterInit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * model-info, import-hf, extract and export-hf end to end on a tiny model: an HF directory goes in,
 * a run directory with a step-0 checkpoint comes out that extract reads (giving the hidden states
 * of the HF weights) and a training restore can load, and exporting it gives the HF directory back.
 */
class HfCommandsTest {

    private static final MertConfig TINY = MertConfig.tiny();

    private record Run(int code, String out, String err) {}

    private static Run mert(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int code = Mert.execute(args);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    @Test
    void modelInfoPrintsTheEncoderCount() {
        Run r = mert("model-info", "--preset", "tiny");
        assertEquals(0, r.code(), r.err());
        ParameterLayout layout = MertLayout.of(TINY);
        assertTrue(r.out().contains(String.format(Locale.ROOT, "encoder (the HuggingFace model): %,d parameters",
                HfWeights.hfParameterCount(layout))), r.out());
        assertTrue(r.out().contains(String.format(Locale.ROOT, "total:                           %,d", layout.totalSize())), r.out());
        assertEquals(2, mert("model-info", "--preset", "tiny", "--checkpoint", "x").code(), "the two sources exclude each other");
    }

    @Test
    void importExtractExportRoundTrip(@TempDir Path tmp) throws Exception {
        ParameterLayout layout = MertLayout.of(TINY);
        INDArray params = Nd4j.create(DataType.FLOAT, layout.totalSize());
        ParameterInit.initialize(layout, params, 42);
        Path hf = tmp.resolve("hf");
        HfModelDir.export(TINY, layout, params, hf, Map.of("format", "pt"));

        Path run = tmp.resolve("run");
        Run imp = mert("import-hf", "--model", hf.toString(), "--out", run.toString(), "--preset", "tiny", "--label-classes", "32");
        assertEquals(0, imp.code(), imp.err());
        Path ckpt = run.resolve("checkpoints").resolve("step-000000000");
        assertTrue(Files.isRegularFile(run.resolve(RunSetup.CONFIG_FILE)));

        // What a training restore reads: the weights, zero moments, optimizer step 0.
        CheckpointModel c = CheckpointModel.open(ckpt);
        assertEquals(TINY, c.model());
        INDArray loaded = Nd4j.create(DataType.FLOAT, layout.totalSize());
        INDArray m1 = Nd4j.create(DataType.FLOAT, layout.totalSize()), m2 = Nd4j.create(DataType.FLOAT, layout.totalSize());
        c.checkpoint().readModel(layout, loaded);
        c.checkpoint().readOptimizer(layout, m1, m2);
        assertEquals(0, c.checkpoint().optimizerStep());
        assertEquals(0.0, m1.norm1Number().doubleValue());
        for (ParameterLayout.Entry e : HfWeights.hfEntries(layout)) {
            assertArrayEquals(ParameterInit.view(params, e).reshape(-1).toFloatVector(),
                    ParameterInit.view(loaded, e).reshape(-1).toFloatVector(), e.name());
        }

        // extract gives the hidden states of the HF weights
        float[] wave = new float[9600];
        for (int i = 0; i < wave.length; i++) wave[i] = (float) (0.3 * Math.sin(2 * Math.PI * 330 * i / 24000.0));
        Path wav = tmp.resolve("a.wav");
        WavFile.writeMono(wav, wave, 24000, WavFile.Encoding.FLOAT_32);
        Path npy = tmp.resolve("a.npy");
        Run ext = mert("extract", "--checkpoint", ckpt.toString(), "--input", wav.toString(), "--output", npy.toString());
        assertEquals(0, ext.code(), ext.err());
        FloatTensor got = Npy.read(npy);
        try (MertNetwork net = new MertNetwork(TINY, wave.length, 0)) {
            net.parameters().assign(params);
            float[][][] h = net.hiddenStates(wave);
            assertArrayEquals(new long[] {h.length, h[0].length, h[0][0].length}, got.shape());
            int i = 0;
            for (float[][] layer : h) for (float[] frame : layer) for (float v : frame) assertEquals(v, got.data()[i++], 0f);
        }

        Path back = tmp.resolve("back");
        Run exp = mert("export-hf", "--checkpoint", ckpt.toString(), "--out", back.toString());
        assertEquals(0, exp.code(), exp.err());
        assertEquals(SafeTensors.readAll(hf.resolve(HfModelDir.SAFETENSORS)), SafeTensors.readAll(back.resolve(HfModelDir.SAFETENSORS)));
        ObjectMapper json = new ObjectMapper();
        assertEquals(json.readTree(hf.resolve(HfModelDir.CONFIG).toFile()), json.readTree(back.resolve(HfModelDir.CONFIG).toFile()));
        assertEquals(json.readTree(hf.resolve(HfModelDir.PREPROCESSOR).toFile()),
                json.readTree(back.resolve(HfModelDir.PREPROCESSOR).toFile()));

        Run again = mert("import-hf", "--model", hf.toString(), "--out", run.toString(), "--preset", "tiny", "--label-classes", "32");
        assertEquals(1, again.code());
        assertTrue(again.err().contains("already holds a run"), again.err());
    }

    @Test
    void unsupportedHfOptionIsNamed(@TempDir Path tmp) throws Exception {
        ParameterLayout layout = MertLayout.of(TINY);
        INDArray params = Nd4j.create(DataType.FLOAT, layout.totalSize());
        Path hf = tmp.resolve("hf");
        HfModelDir.export(TINY, layout, params, hf, Map.of());
        ObjectMapper json = new ObjectMapper();
        ObjectNode cfg = (ObjectNode) json.readTree(hf.resolve(HfModelDir.CONFIG).toFile());
        cfg.put("feature_extractor_cqt", true);
        json.writeValue(hf.resolve(HfModelDir.CONFIG).toFile(), cfg);
        Run r = mert("import-hf", "--model", hf.toString(), "--out", tmp.resolve("run").toString(), "--preset", "tiny");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("feature_extractor_cqt = true is not supported"), r.err());
        assertTrue(List.of(tmp.toFile().list()).stream().noneMatch(n -> n.equals("run")), "nothing written on failure");
    }
}
