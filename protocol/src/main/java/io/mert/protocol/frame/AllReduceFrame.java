package io.mert.protocol.frame;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

import java.nio.ByteOrder;

/**
 * The fixed binary layout of one allreduce frame: a 48-byte header followed by {@code count}
 * little-endian values in the frame's {@link WireFormat} (float32, or bfloat16 for half the bytes).
 * Written and read in place with Agrona buffers (no protobuf, no allocation on the hot path).
 *
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------------------------------------------------------+
 *  |                       generation (int64)                      |   0
 *  +---------------------------------------------------------------+
 *  |                          step (int64)                         |   8
 *  +---------------------------------------------------------------+
 *  |        round (int32): 0..N-2 reduce-scatter, N-1.. gather     |  16
 *  +---------------------------------------------------------------+
 *  |                     sender rank (int32)                       |  20
 *  +---------------------------------------------------------------+
 *  |               chunk index within the segment (int32)          |  24
 *  +---------------------------------------------------------------+
 *  |              first float's offset in the buffer (int32)       |  28
 *  +---------------------------------------------------------------+
 *  |                   number of floats (int32)                    |  32
 *  +---------------------------------------------------------------+
 *  |                     world size (int32)                        |  36
 *  +---------------------------------------------------------------+
 *  |          wire format (int32): 1 float32, 2 bfloat16           |  40
 *  +---------------------------------------------------------------+
 *  |       zero (int32): keeps the payload 16-byte aligned         |  44
 *  +---------------------------------------------------------------+
 *  |          count x float32 (or bfloat16) payload ...            |  48
 * </pre>
 *
 * <p>State transfer (a donor streaming its state to members that joined) uses the same header with
 * {@code step = }{@link #STATE_TRANSFER_STEP} and {@code round = }{@link #STATE_TRANSFER_ROUND}; the
 * chunk index then counts over the whole transfer, and the float offset is relative to the part of
 * the state (parameters, first moment, second moment...) that the chunk belongs to.
 */
public final class AllReduceFrame {

    public static final ByteOrder ORDER = ByteOrder.LITTLE_ENDIAN;

    public static final int GENERATION_OFFSET = 0;
    public static final int STEP_OFFSET = 8;
    public static final int ROUND_OFFSET = 16;
    public static final int SENDER_OFFSET = 20;
    public static final int CHUNK_OFFSET = 24;
    public static final int FLOAT_OFFSET_OFFSET = 28;
    public static final int COUNT_OFFSET = 32;
    public static final int WORLD_SIZE_OFFSET = 36;
    public static final int WIRE_FORMAT_OFFSET = 40;
    public static final int HEADER_LENGTH = 48;
    /** The step field of a state-transfer frame: below every training step, so an allreduce drops it as stale. */
    public static final long STATE_TRANSFER_STEP = -1;
    /** The round field of a state-transfer frame: the phase id, outside the allreduce rounds 0..2N-3. */
    public static final int STATE_TRANSFER_ROUND = -0x5354; // "ST"

    private AllReduceFrame() {
    }

    public static void writeHeader(MutableDirectBuffer b, int at, long generation, long step, int round, int sender,
                                   int chunk, int floatOffset, int count, int worldSize, WireFormat wire) {
        b.putLong(at + GENERATION_OFFSET, generation, ORDER);
        b.putLong(at + STEP_OFFSET, step, ORDER);
        b.putInt(at + ROUND_OFFSET, round, ORDER);
        b.putInt(at + SENDER_OFFSET, sender, ORDER);
        b.putInt(at + CHUNK_OFFSET, chunk, ORDER);
        b.putInt(at + FLOAT_OFFSET_OFFSET, floatOffset, ORDER);
        b.putInt(at + COUNT_OFFSET, count, ORDER);
        b.putInt(at + WORLD_SIZE_OFFSET, worldSize, ORDER);
        b.putInt(at + WIRE_FORMAT_OFFSET, wire.code(), ORDER);
        b.putInt(at + WIRE_FORMAT_OFFSET + 4, 0, ORDER);
    }

    public static long generation(DirectBuffer b, int at) {
        return b.getLong(at + GENERATION_OFFSET, ORDER);
    }

    public static long step(DirectBuffer b, int at) {
        return b.getLong(at + STEP_OFFSET, ORDER);
    }

    public static int round(DirectBuffer b, int at) {
        return b.getInt(at + ROUND_OFFSET, ORDER);
    }

    public static int sender(DirectBuffer b, int at) {
        return b.getInt(at + SENDER_OFFSET, ORDER);
    }

    public static int chunk(DirectBuffer b, int at) {
        return b.getInt(at + CHUNK_OFFSET, ORDER);
    }

    public static int floatOffset(DirectBuffer b, int at) {
        return b.getInt(at + FLOAT_OFFSET_OFFSET, ORDER);
    }

    public static int count(DirectBuffer b, int at) {
        return b.getInt(at + COUNT_OFFSET, ORDER);
    }

    public static int worldSize(DirectBuffer b, int at) {
        return b.getInt(at + WORLD_SIZE_OFFSET, ORDER);
    }

    /** The wire-format code ({@link WireFormat#code()}); a frame is only read as the format its receiver expects. */
    public static int wireFormat(DirectBuffer b, int at) {
        return b.getInt(at + WIRE_FORMAT_OFFSET, ORDER);
    }

    /** Frame length in bytes for {@code count} values in {@code wire}'s format. */
    public static int length(int count, WireFormat wire) {
        return HEADER_LENGTH + count * wire.bytesPerValue();
    }
}
