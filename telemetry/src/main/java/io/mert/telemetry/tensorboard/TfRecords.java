package io.mert.telemetry.tensorboard;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * TFRecord framing, the container of TensorBoard's event files: per record a little-endian uint64
 * length, the masked CRC32C of those 8 bytes, the data, and the masked CRC32C of the data.
 */
public final class TfRecords {

    private static final int MASK_DELTA = 0xa282ead8;

    private TfRecords() {
    }

    /** TensorFlow's masked CRC32C: rotate right by 15 bits and add a constant (so CRCs of CRCs stay useful). */
    public static int maskedCrc32c(byte[] data, int offset, int length) {
        CRC32C crc = new CRC32C();
        crc.update(data, offset, length);
        int c = (int) crc.getValue();
        return ((c >>> 15) | (c << 17)) + MASK_DELTA;
    }

    /** The framed bytes of one record. */
    public static byte[] frame(byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(8 + 4 + data.length + 4).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(data.length);
        b.putInt(maskedCrc32c(b.array(), 0, 8));
        b.put(data);
        b.putInt(maskedCrc32c(data, 0, data.length));
        return b.array();
    }

    public static void write(OutputStream out, byte[] data) throws IOException {
        out.write(frame(data));
    }

    /** Every record of a stream, both CRCs checked; a truncated last record is an error too. */
    public static List<byte[]> readAll(InputStream in) throws IOException {
        byte[] all = in.readAllBytes();
        List<byte[]> records = new ArrayList<>();
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        while (b.hasRemaining()) {
            int at = b.position();
            if (b.remaining() < 12) throw new CorruptRecordException("truncated record header at byte " + at);
            long length = b.getLong();
            int lengthCrc = b.getInt();
            if (lengthCrc != maskedCrc32c(all, at, 8)) throw new CorruptRecordException("length CRC mismatch at byte " + at);
            if (length < 0 || length > b.remaining() - 4) {
                throw new CorruptRecordException("record at byte " + at + " claims " + length + " bytes, " + b.remaining() + " left");
            }
            byte[] data = new byte[(int) length];
            b.get(data);
            if (b.getInt() != maskedCrc32c(data, 0, data.length)) throw new CorruptRecordException("data CRC mismatch in record at byte " + at);
            records.add(data);
        }
        return records;
    }

    public static List<byte[]> readAll(byte[] bytes) throws IOException {
        return readAll(new java.io.ByteArrayInputStream(bytes));
    }

    /** A record whose framing or checksums do not hold. */
    public static final class CorruptRecordException extends IOException {
        CorruptRecordException(String message) {
            super(message);
        }
    }
}
