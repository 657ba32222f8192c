package io.mert.worker;

import io.mert.data.DemoCorpus;
import io.mert.data.KMeansTeacher;
import io.mert.data.Manifest;
import io.mert.data.ManifestBuilder;
import io.mert.data.TrainingClips;
import io.mert.model.Batch;
import io.mert.model.MertConfig;
import io.mert.model.features.Cqt;
import io.mert.protocol.ShardPlan;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** A rank's batch rows depend only on (sample, serial): the same draw is the same row on any rank. */
class BatchAssemblerTest {

    private static final int CROP = 16000;
    private static final MertConfig MODEL = MertConfig.tiny().withLabelClasses(List.of(8));

    @TempDir
    static Path work;
    static TrainingClips clips;

    @BeforeAll
    static void data() throws Exception {
        DemoCorpus.generate(work.resolve("corpus"), 6, 3);
        ManifestBuilder.build(ManifestBuilder.Options.defaults(work.resolve("corpus"), work.resolve("audio"), work.resolve("m"))
                .withValidFraction(0));
        KMeansTeacher.run(KMeansTeacher.Options.defaults(work.resolve("m"), work.resolve("l")).withK(8));
        clips = new TrainingClips(Manifest.read(work.resolve("m/train.tsv")), List.of(work.resolve("l/train.km")),
                CROP, MODEL.framesFor(CROP));
    }

    private static BatchAssembler assembler() {
        return new BatchAssembler(MODEL, clips, Cqt.mert(), CROP, 1337);
    }

    @Test
    void rowsDependOnlyOnTheDrawNotOnTheBatchTheyAreIn() {
        Batch whole = assembler().assemble(new int[]{0, 1, 2, 3}, new long[]{40, 41, 42, 43}, 1);
        Batch half = assembler().assemble(new int[]{2, 3}, new long[]{42, 43}, 1);
        int t = CROP, f = whole.frames(), bins = MODEL.cqtBins();
        assertArrayEquals(Arrays.copyOfRange(whole.waveforms(), 2 * t, 4 * t), half.waveforms());
        assertArrayEquals(Arrays.copyOfRange(whole.mask(), 2 * f, 4 * f), half.mask());
        assertArrayEquals(Arrays.copyOfRange(whole.labels()[0], 2 * f, 4 * f), half.labels()[0]);
        assertArrayEquals(Arrays.copyOfRange(whole.cqt(), 2 * f * bins, 4 * f * bins), half.cqt());
        // another serial for the same clip gives another crop and mask
        Batch other = assembler().assemble(new int[]{2}, new long[]{99}, 1);
        assertFalse(Arrays.equals(half.mask(), 0, f, other.mask(), 0, f) && Arrays.equals(half.waveforms(), 0, t, other.waveforms(), 0, t));
    }

    @Test
    void targetsAreAlignedWithTheCrop() {
        Batch b = assembler().assemble(new int[]{1}, new long[]{7}, 1);
        int f = b.frames();
        assertEquals(MODEL.framesFor(CROP), f);
        float[] wave = Arrays.copyOf(b.waveforms(), CROP);
        float[] cqt = Cqt.mert().magnitude(wave);
        assertArrayEquals(Arrays.copyOf(cqt, f * MODEL.cqtBins()), b.cqt(), "CQT of the crop, cut to the model's frames");
        TrainingClips.Clip c = clips.clip(1, ShardPlan.mix(1337 ^ BatchAssembler.CROP_STREAM, 7));
        assertArrayEquals(c.waveform(), wave);
        assertArrayEquals(Arrays.copyOf(c.labels()[0], f), b.labels()[0]);
        int masked = b.maskedFrames();
        assertTrue(masked > f / 3 && masked < f, "mask_prob 0.8 with spans of 5 masks roughly half the frames: " + masked + "/" + f);
        for (int l : b.labels()[0]) assertTrue(l >= 0 && l < 8);
    }

    @Test
    void mixupIsTheSameOnAnyRankAndLeavesTheTargetsClean() {
        io.mert.model.config.MixupConfig mixup = new io.mert.model.config.MixupConfig(0.5, 4000, 8000, 1, 3, 1.0);
        BatchAssembler mixing = new BatchAssembler(MODEL, clips, Cqt.mert(), CROP, 1337, mixup);
        int[] all = {0, 1, 2, 3, 4, 5};
        long[] serials = {40, 41, 42, 43, 44, 45};
        Batch whole = mixing.assemble(all, serials, 1, all, serials);
        Batch slice = mixing.assemble(new int[]{3, 4}, new long[]{43, 44}, 1, all, serials);
        Batch clean = assembler().assemble(all, serials, 1);
        int t = CROP, f = whole.frames(), bins = MODEL.cqtBins();
        assertArrayEquals(Arrays.copyOfRange(whole.waveforms(), 3 * t, 5 * t), slice.waveforms(), "a rank's rows equal the whole batch's");
        assertArrayEquals(clean.cqt(), whole.cqt(), "the CQT target comes from the clean audio");
        assertArrayEquals(clean.labels()[0], whole.labels()[0]);
        assertArrayEquals(clean.mask(), whole.mask());
        int mixed = 0;
        for (int i = 0; i < all.length; i++) {
            if (!Arrays.equals(clean.waveforms(), i * t, (i + 1) * t, whole.waveforms(), i * t, (i + 1) * t)) mixed++;
        }
        assertTrue(mixed > 0 && mixed < all.length, "mixture_prob 0.5 mixes some clips, not all: " + mixed);
        assertThrows(IllegalStateException.class, () -> mixing.assemble(all, serials, 1), "mixup needs the global batch");
    }
}
