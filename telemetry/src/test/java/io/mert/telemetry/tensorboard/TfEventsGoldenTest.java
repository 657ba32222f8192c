package io.mert.telemetry.tensorboard;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * {@code golden.tfevents} was written by TensorBoard's own EventFileWriter
 * ({@code tools/telemetry/make_tfevents_golden.py}); these are the same events, built here.
 */
class TfEventsGoldenTest {

    private static final double FILE_VERSION_WALL_TIME = 1700000000.25;
    private static final String TB_WRITER = "tensorboard.summary.writer.event_file_writer";
    private static final List<TfEvent> EVENTS = List.of(
            scalars(1700000001.5, 1, "train/loss", 6.2146f, "train/acoustic_loss_0", 6.2146f, "train/masked_accuracy_0", 0f,
                    "train/lr", 5e-05f, "perf/samples_per_s", 12.75f),
            scalars(1700000002.125, 2, "train/loss", 5.75f, "train/cqt_loss", -0.0f, "train/grad_norm", 1e-30f),
            scalars(1700000003.0, 3, "train/loss", Float.NaN, "train/grad_norm", Float.POSITIVE_INFINITY, "cluster/world_size", 2f),
            TfEvent.sessionStart(1700000004.0, 3),
            scalars(1700000005.0, 0, "train/loss", -1.5f),
            scalars(1700000006.0, (1L << 40) + 7, "events/worker_lost", 3f, "ünïcode/tag", 3.14159f));

    private static TfEvent scalars(double wall, long step, Object... tagValue) {
        List<TfEvent.Scalar> s = new ArrayList<>();
        for (int i = 0; i < tagValue.length; i += 2) s.add(new TfEvent.Scalar((String) tagValue[i], (Float) tagValue[i + 1]));
        return TfEvent.scalars(wall, step, s);
    }

    private static byte[] golden() throws IOException {
        try (InputStream in = TfEventsGoldenTest.class.getResourceAsStream("golden.tfevents")) {
            return in.readAllBytes();
        }
    }

    @Test
    void ourReaderReadsTensorBoardsFile() throws IOException {
        List<byte[]> records = TfRecords.readAll(golden());
        assertEquals(EVENTS.size() + 1, records.size());
        TfEvent first = TfEvent.decode(records.get(0));
        assertEquals(TfEvent.FILE_VERSION, first.fileVersion());
        assertEquals(FILE_VERSION_WALL_TIME, first.wallTime());
        assertEquals(TB_WRITER, first.writer());
        for (int i = 0; i < EVENTS.size(); i++) {
            TfEvent got = TfEvent.decode(records.get(i + 1));
            TfEvent want = EVENTS.get(i);
            assertEquals(want.wallTime(), got.wallTime(), "event " + i);
            assertEquals(want.step(), got.step(), "event " + i);
            assertNull(got.fileVersion());
            assertEquals(want.sessionStatus(), got.sessionStatus(), "event " + i);
            assertEquals(want.scalars().size(), got.scalars().size(), "event " + i);
            for (int j = 0; j < want.scalars().size(); j++) {
                assertEquals(want.scalars().get(j).tag(), got.scalars().get(j).tag());
                assertEquals(Float.floatToRawIntBits(want.scalars().get(j).value()), Float.floatToRawIntBits(got.scalars().get(j).value()),
                        want.scalars().get(j).tag());
            }
        }
    }

    @Test
    void ourWriterProducesTensorBoardsBytesExactly(@TempDir Path dir) throws IOException {
        Iterator<Double> clock = java.util.stream.Stream.concat(java.util.stream.Stream.of(FILE_VERSION_WALL_TIME),
                EVENTS.stream().map(TfEvent::wallTime)).iterator();
        TensorBoardWriter w = TensorBoardWriter.open(dir, clock::next, "host", 42);
        for (TfEvent e : EVENTS) {
            if (e.sessionStatus() == TfEvent.SESSION_START) w.sessionStart(e.step());
            else w.scalars(e.step(), e.scalars());
        }
        w.close();
        assertEquals("events.out.tfevents.1700000000.host.42", w.file().getFileName().toString());
        List<byte[]> ours = TfRecords.readAll(Files.readAllBytes(w.file()));
        List<byte[]> theirs = TfRecords.readAll(golden());
        assertEquals(theirs.size(), ours.size());
        // the first event names its writer (source_metadata): the one difference from TensorBoard's file
        TfEvent first = TfEvent.fileVersion(FILE_VERSION_WALL_TIME);
        assertArrayEquals(first.encode(), ours.get(0));
        assertArrayEquals(new TfEvent(first.wallTime(), 0, TfEvent.FILE_VERSION, 0, List.of(), TB_WRITER).encode(), theirs.get(0));
        for (int i = 1; i < theirs.size(); i++) assertArrayEquals(theirs.get(i), ours.get(i), "record " + i);
        // and the framing of every record (length, CRCs) is byte for byte TensorBoard's
        byte[] golden = golden();
        byte[] tail = Files.readAllBytes(w.file());
        int theirsFirst = 16 + theirs.get(0).length, oursFirst = 16 + ours.get(0).length;
        assertArrayEquals(java.util.Arrays.copyOfRange(golden, theirsFirst, golden.length),
                java.util.Arrays.copyOfRange(tail, oursFirst, tail.length));
    }

    @Test
    void aFailingDiskTurnsTheWriterOffInsteadOfThrowing(@TempDir Path dir) throws IOException {
        TensorBoardWriter w = TensorBoardWriter.open(dir, () -> 1.0, "host", 1);
        w.close(); // stands for a stream that broke: writes after it must not throw
        w.scalars(1, List.of(new TfEvent.Scalar("x", 1f)));
        assertEquals(false, w.enabled());
        Path notADir = Files.writeString(dir.resolve("file"), "x");
        assertNull(TensorBoardWriter.open(notADir.resolve("tb"), () -> 1.0, "host", 1));
    }
}
