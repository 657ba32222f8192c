package io.mert.telemetry.tensorboard;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The part of TensorBoard's {@code tensorboard.Event} protobuf ({@code tensorboard/compat/proto/event.proto},
 * {@code summary.proto}) that scalar logging needs, encoded and decoded by hand:
 * <pre>
 * Event   { double wall_time = 1; int64 step = 2; oneof what { string file_version = 3; Summary summary = 5;
 *           SessionLog session_log = 7; }  SourceMetadata source_metadata = 10; }
 * Summary { repeated Value value = 1; }   Value { string tag = 1; oneof value { float simple_value = 2; } }
 * SessionLog { SessionStatus status = 1; }   (START = 1)      SourceMetadata { string writer = 1; }
 * </pre>
 * Encoding follows protobuf's canonical order and proto3 rules (fields in number order, zero scalars
 * omitted, oneof members always written), so the bytes equal what TensorBoard's Python writer makes.
 *
 * @param fileVersion   set in a file's first event only, else null
 * @param sessionStatus SessionLog status (1 = START), or 0 when the event has no session log
 * @param scalars       the summary's simple values, empty when the event has none
 * @param writer        {@code source_metadata.writer}, the program that wrote the file (first event), else null
 */
public record TfEvent(double wallTime, long step, String fileVersion, int sessionStatus, List<Scalar> scalars, String writer) {

    public static final String FILE_VERSION = "brain.Event:2";
    public static final int SESSION_START = 1;
    public static final String WRITER = "mert-trainer";

    /** One {@code Summary.Value} with a {@code simple_value}. */
    public record Scalar(String tag, float value) {
    }

    public TfEvent {
        scalars = List.copyOf(scalars);
    }

    public static TfEvent fileVersion(double wallTime) {
        return new TfEvent(wallTime, 0, FILE_VERSION, 0, List.of(), WRITER);
    }

    /** A restart marker: TensorBoard drops what it holds at this step and later (data a rollback or resume replaces). */
    public static TfEvent sessionStart(double wallTime, long step) {
        return new TfEvent(wallTime, step, null, SESSION_START, List.of(), null);
    }

    public static TfEvent scalars(double wallTime, long step, List<Scalar> values) {
        return new TfEvent(wallTime, step, null, 0, values, null);
    }

    public byte[] encode() {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        if (wallTime != 0) {
            tag(o, 1, 1);
            fixed64(o, Double.doubleToRawLongBits(wallTime));
        }
        if (step != 0) {
            tag(o, 2, 0);
            varint(o, step);
        }
        if (fileVersion != null) bytes(o, 3, fileVersion.getBytes(StandardCharsets.UTF_8));
        if (!scalars.isEmpty() || (fileVersion == null && sessionStatus == 0)) {
            ByteArrayOutputStream summary = new ByteArrayOutputStream();
            for (Scalar s : scalars) {
                ByteArrayOutputStream v = new ByteArrayOutputStream();
                if (!s.tag().isEmpty()) bytes(v, 1, s.tag().getBytes(StandardCharsets.UTF_8));
                tag(v, 2, 5);
                fixed32(v, Float.floatToRawIntBits(s.value()));
                bytes(summary, 1, v.toByteArray());
            }
            bytes(o, 5, summary.toByteArray());
        }
        if (sessionStatus != 0) {
            ByteArrayOutputStream log = new ByteArrayOutputStream();
            tag(log, 1, 0);
            varint(log, sessionStatus);
            bytes(o, 7, log.toByteArray());
        }
        if (writer != null) {
            ByteArrayOutputStream source = new ByteArrayOutputStream();
            if (!writer.isEmpty()) bytes(source, 1, writer.getBytes(StandardCharsets.UTF_8));
            bytes(o, 10, source.toByteArray());
        }
        return o.toByteArray();
    }

    /** Decodes an Event, skipping fields this record does not hold (graphs, tensors, metadata...). */
    public static TfEvent decode(byte[] data) throws IOException {
        Reader r = new Reader(data, 0, data.length);
        double wallTime = 0;
        long step = 0;
        String fileVersion = null;
        int status = 0;
        String writer = null;
        List<Scalar> scalars = new ArrayList<>();
        while (r.more()) {
            int key = (int) r.varint();
            switch (key) {
                case (1 << 3) | 1 -> wallTime = Double.longBitsToDouble(r.fixed64());
                case (2 << 3) -> step = r.varint();
                case (3 << 3) | 2 -> fileVersion = r.string();
                case (5 << 3) | 2 -> {
                    Reader summary = r.message();
                    while (summary.more()) {
                        int k = (int) summary.varint();
                        if (k == ((1 << 3) | 2)) scalars.add(decodeValue(summary.message()));
                        else summary.skip(k);
                    }
                }
                case (7 << 3) | 2 -> {
                    Reader log = r.message();
                    while (log.more()) {
                        int k = (int) log.varint();
                        if (k == (1 << 3)) status = (int) log.varint();
                        else log.skip(k);
                    }
                }
                case (10 << 3) | 2 -> {
                    Reader source = r.message();
                    writer = "";
                    while (source.more()) {
                        int k = (int) source.varint();
                        if (k == ((1 << 3) | 2)) writer = source.string();
                        else source.skip(k);
                    }
                }
                default -> r.skip(key);
            }
        }
        return new TfEvent(wallTime, step, fileVersion, status, scalars, writer);
    }

    private static Scalar decodeValue(Reader v) throws IOException {
        String tag = "";
        Float value = null;
        while (v.more()) {
            int k = (int) v.varint();
            if (k == ((1 << 3) | 2)) tag = v.string();
            else if (k == ((2 << 3) | 5)) value = Float.intBitsToFloat(v.fixed32());
            else v.skip(k);
        }
        if (value == null) throw new IOException("summary value '" + tag + "' has no simple_value (not a scalar)");
        return new Scalar(tag, value);
    }

    // ---- protobuf wire format -------------------------------------------------------------------

    private static void tag(ByteArrayOutputStream o, int field, int wireType) {
        varint(o, ((long) field << 3) | wireType);
    }

    private static void varint(ByteArrayOutputStream o, long v) {
        while ((v & ~0x7FL) != 0) {
            o.write((int) ((v & 0x7F) | 0x80));
            v >>>= 7;
        }
        o.write((int) v);
    }

    private static void fixed64(ByteArrayOutputStream o, long v) {
        for (int i = 0; i < 8; i++) o.write((int) (v >>> (8 * i)));
    }

    private static void fixed32(ByteArrayOutputStream o, int v) {
        for (int i = 0; i < 4; i++) o.write(v >>> (8 * i));
    }

    private static void bytes(ByteArrayOutputStream o, int field, byte[] b) {
        tag(o, field, 2);
        varint(o, b.length);
        o.writeBytes(b);
    }

    private static final class Reader {
        private final byte[] b;
        private int pos;
        private final int end;

        Reader(byte[] b, int pos, int end) {
            this.b = b;
            this.pos = pos;
            this.end = end;
        }

        boolean more() {
            return pos < end;
        }

        private int next() throws IOException {
            if (pos >= end) throw new IOException("protobuf message ends inside a field at byte " + pos);
            return b[pos++] & 0xFF;
        }

        long varint() throws IOException {
            long v = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                int x = next();
                v |= (long) (x & 0x7F) << shift;
                if ((x & 0x80) == 0) return v;
            }
            throw new IOException("malformed varint at byte " + pos);
        }

        long fixed64() throws IOException {
            long v = 0;
            for (int i = 0; i < 8; i++) v |= (long) next() << (8 * i);
            return v;
        }

        int fixed32() throws IOException {
            int v = 0;
            for (int i = 0; i < 4; i++) v |= next() << (8 * i);
            return v;
        }

        Reader message() throws IOException {
            long n = varint();
            if (n < 0 || n > end - pos) throw new IOException("field of " + n + " bytes overruns the message at byte " + pos);
            Reader r = new Reader(b, pos, pos + (int) n);
            pos += (int) n;
            return r;
        }

        String string() throws IOException {
            Reader r = message();
            return new String(b, r.pos, r.end - r.pos, StandardCharsets.UTF_8);
        }

        void skip(int key) throws IOException {
            switch (key & 7) {
                case 0 -> varint();
                case 1 -> fixed64();
                case 2 -> message();
                case 5 -> fixed32();
                default -> throw new IOException("unsupported wire type " + (key & 7) + " at byte " + pos);
            }
        }
    }
}
