package io.mert.model.nn;

import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.layers.convolution.config.Conv2DConfig;
import org.nd4j.linalg.api.ops.impl.layers.convolution.config.PaddingMode;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The Java columns and their backward pass against libnd4j's im2col (followed by the reshapes and permutes that bring
 * its output to the same layout), and the input gradient against that graph's autodiff: the same values, both
 * layouts, with and without padding, strides and groups.
 */
class Im2ColRowsTest {

    @Test
    void stridedChannelsFirstColumnsAndGradientsMatchLibnd4j() {
        check(new Im2ColRows.Geometry(6, 29, 3, 2, 0, 1, false), 3);
        check(new Im2ColRows.Geometry(4, 10, 10, 5, 0, 1, false), 2); // the first extractor layer's shape, kernel = length
        check(new Im2ColRows.Geometry(5, 13, 2, 2, 0, 1, false), 1);
    }

    @Test
    void paddedGroupedChannelsLastColumnsAndGradientsMatchLibnd4j() {
        check(new Im2ColRows.Geometry(8, 11, 6, 1, 3, 4, true), 2);   // even kernel: one frame more than the input
        check(new Im2ColRows.Geometry(6, 9, 5, 1, 2, 2, true), 3);
        check(new Im2ColRows.Geometry(4, 3, 7, 1, 3, 1, true), 1);    // padding wider than the input
    }

    @Test
    void aGeometryThatCannotBeComputedIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new Im2ColRows.Geometry(6, 2, 5, 1, 0, 1, false));
        assertThrows(IllegalArgumentException.class, () -> new Im2ColRows.Geometry(6, 20, 3, 1, 0, 4, false));
    }

    private static void check(Im2ColRows.Geometry g, int batch) {
        INDArray x = Nd4j.rand(DataType.FLOAT, g.inputShape(batch)).subi(0.5);
        INDArray weight = Nd4j.rand(DataType.FLOAT, g.colsShape(batch)).subi(0.5);

        SameDiff ours = SameDiff.create();
        SDVariable cols = Im2ColRows.of(ours, ours.var("x", x.dup()), g);
        ours.constant("w", weight).mul(cols).sum().rename("loss");
        SameDiff theirs = SameDiff.create();
        SDVariable ref = libnd4jColumns(theirs, theirs.var("x", x.dup()), g, batch);
        theirs.constant("w", weight).mul(ref).sum().rename("loss");

        INDArray got = ours.output(Map.of(), cols.name()).get(cols.name());
        INDArray want = theirs.output(Map.of(), ref.name()).get(ref.name());
        assertArrayEquals(want.shape(), got.shape(), g.toString());
        assertArrayEquals(want.data().asFloat(), got.dup().data().asFloat(), 0f, g.toString());

        INDArray gradOurs = ours.calculateGradients(Map.of(), "x").get("x");
        INDArray gradTheirs = theirs.calculateGradients(Map.of(), "x").get("x");
        assertArrayEquals(x.shape(), gradOurs.shape());
        // the same sums, possibly in another order
        assertArrayEquals(gradTheirs.dup().data().asFloat(), gradOurs.dup().data().asFloat(), 1e-5f, g.toString());
        assertEquals(gradTheirs.sumNumber().doubleValue(), gradOurs.sumNumber().doubleValue(), 1e-4);
    }

    /** libnd4j's im2col of the [B, C, L] view, reshaped and permuted to [G, C/G k, B F] (or [C k, B F]). */
    private static SDVariable libnd4jColumns(SameDiff sd, SDVariable x, Im2ColRows.Geometry g, int batch) {
        int c = g.channels(), l = g.length(), k = g.kernel(), f = g.frames();
        SDVariable channelsFirst = g.channelsLast() ? x.permute(0, 2, 1) : x;
        Conv2DConfig taps = Conv2DConfig.builder().kH(1).kW(k).sH(1).sW(g.stride()).pH(0).pW(g.pad()).dH(1).dW(1)
                .paddingMode(PaddingMode.VALID).dataFormat("NCHW").build();
        SDVariable raw = sd.cnn().im2Col(channelsFirst.reshape(batch, c, 1, l), taps); // [B, C, 1, k, 1, F]
        SDVariable byGroup = raw.reshape(batch, g.groups(), (long) c / g.groups() * k, f).permute(1, 2, 0, 3);
        return byGroup.reshape(g.colsShape(batch));
    }
}
