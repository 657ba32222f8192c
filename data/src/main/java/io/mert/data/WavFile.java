package io.mert.data;

import io.mert.model.checkpoint.AtomicFiles;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * RIFF/WAVE reading and writing. Reads integer PCM of 8 (unsigned), 16, 24 and 32 bits and IEEE
 * float of 32 and 64 bits, plain or WAVE_FORMAT_EXTENSIBLE, any channel count, mixed down to mono by
 * averaging. Integer samples are scaled by {@code 2^-(bits-1)} into [-1, 1). Writes any of those
 * encodings atomically.
 */
public final class WavFile {
    private static final int FORMAT_PCM = 1;
    private static final int FORMAT_FLOAT = 3;
    private static final int FORMAT_EXTENSIBLE = 0xFFFE;

    private WavFile() {}

    /** Sample encodings. */
    public enum Encoding {
        PCM_U8(FORMAT_PCM, 8), PCM_16(FORMAT_PCM, 16), PCM_24(FORMAT_PCM, 24), PCM_32(FORMAT_PCM, 32),
        FLOAT_32(FORMAT_FLOAT, 32), FLOAT_64(FORMAT_FLOAT, 64);

        final int formatTag;
        final int bits;

        Encoding(int formatTag, int bits) {
            this.formatTag = formatTag;
            this.bits = bits;
        }

        public int bytes() { return bits / 8; }

        static Encoding of(int tag, int bits) {
            for (Encoding e : values()) if (e.formatTag == tag && e.bits == bits) return e;
            return null;
        }
    }

    /** Header facts. */
    public record Info(int sampleRate, int channels, Encoding encoding, long frames) {
        public double seconds() { return frames / (double) sampleRate; }
    }

    /** A mono waveform. */
    public record Audio(float[] samples, int sampleRate) {
        public double seconds() { return samples.length / (double) sampleRate; }
    }

    /** Reads only the header (and checks that the data chunk is complete). */
    public static Info info(Path file) throws IOException {
        return parse(file, Files.readAllBytes(file)).info;
    }

    /** Reads the file and averages its channels. */
    public static Audio readMono(Path file) throws IOException {
        Parsed p = parse(file, Files.readAllBytes(file));
        Info info = p.info;
        int frames = Math.toIntExact(info.frames);
        int ch = info.channels;
        float[] out = new float[frames];
        ByteBuffer b = p.data;
        double norm = 1.0 / ch;
        for (int i = 0; i < frames; i++) {
            double sum = 0;
            for (int c = 0; c < ch; c++) sum += sample(b, info.encoding);
            out[i] = (float) (sum * norm);
        }
        return new Audio(out, info.sampleRate);
    }

    /** All channels of a WAV file, de-interleaved. */
    public record Pcm(Info info, float[][] channels) {}

    /** Reads every channel of the file held in {@code bytes} ({@code file} names it in messages). */
    public static Pcm read(Path file, byte[] bytes) throws WavFormatException {
        Parsed p = parse(file, bytes);
        Info info = p.info;
        int frames = Math.toIntExact(info.frames);
        float[][] out = new float[info.channels][frames];
        ByteBuffer b = p.data;
        for (int i = 0; i < frames; i++)
            for (int c = 0; c < info.channels; c++) out[c][i] = (float) sample(b, info.encoding);
        return new Pcm(info, out);
    }

    private static double sample(ByteBuffer b, Encoding e) {
        return switch (e) {
            case PCM_U8 -> ((b.get() & 0xFF) - 128) / 128.0;
            case PCM_16 -> b.getShort() / 32768.0;
            case PCM_24 -> {
                int lo = b.get() & 0xFF, mid = b.get() & 0xFF, hi = b.get();
                yield ((hi << 16) | (mid << 8) | lo) / 8388608.0;
            }
            case PCM_32 -> b.getInt() / 2147483648.0;
            case FLOAT_32 -> b.getFloat();
            case FLOAT_64 -> b.getDouble();
        };
    }

    private record Parsed(Info info, ByteBuffer data) {}

    private static Parsed parse(Path file, byte[] bytes) throws WavFormatException {
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (bytes.length == 0) throw new WavFormatException(file + ": empty file (0 bytes), not a WAV file");
        if (bytes.length < 12 || !tag(bytes, 0).equals("RIFF") || !tag(bytes, 8).equals("WAVE"))
            throw new WavFormatException(file + ": not a RIFF/WAVE file (missing 'RIFF....WAVE' header)");
        long pos = 12; // long: a chunk may declare up to 4 GiB, far past the end of the array
        Integer tagFmt = null;
        int channels = 0, rate = 0, blockAlign = 0, bits = 0;
        while (pos + 8 <= bytes.length) {
            String id = tag(bytes, (int) pos);
            long size = b.getInt((int) pos + 4) & 0xFFFFFFFFL;
            int body = (int) pos + 8;
            if (id.equals("fmt ")) {
                if (size < 16 || body + size > bytes.length)
                    throw new WavFormatException(file + ": truncated or invalid 'fmt ' chunk (" + size + " bytes)");
                int formatTag = b.getShort(body) & 0xFFFF;
                channels = b.getShort(body + 2) & 0xFFFF;
                rate = b.getInt(body + 4);
                blockAlign = b.getShort(body + 12) & 0xFFFF;
                bits = b.getShort(body + 14) & 0xFFFF;
                if (formatTag == FORMAT_EXTENSIBLE) {
                    if (size < 40)
                        throw new WavFormatException(file + ": WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk too short (" + size + " bytes, need 40)");
                    formatTag = b.getShort(body + 24) & 0xFFFF; // first two bytes of the sub-format GUID
                }
                tagFmt = formatTag;
            } else if (id.equals("data")) {
                if (tagFmt == null) throw new WavFormatException(file + ": 'data' chunk before 'fmt ' chunk");
                Encoding enc = Encoding.of(tagFmt, bits);
                if (enc == null)
                    throw new WavFormatException(file + ": unsupported encoding (format tag " + tagFmt + ", " + bits
                            + " bits); supported: PCM 8/16/24/32-bit, IEEE float 32/64-bit");
                if (channels <= 0) throw new WavFormatException(file + ": invalid channel count " + channels);
                if (rate <= 0) throw new WavFormatException(file + ": invalid sample rate " + rate);
                if (blockAlign != channels * enc.bytes())
                    throw new WavFormatException(file + ": block align " + blockAlign + " does not match " + channels
                            + " channels x " + enc.bytes() + " bytes");
                long available = bytes.length - body;
                if (size > available)
                    throw new WavFormatException(file + ": truncated: data chunk declares " + size + " bytes but only "
                            + available + " follow");
                long frames = size / blockAlign;
                ByteBuffer data = ByteBuffer.wrap(bytes, body, (int) (frames * blockAlign)).slice().order(ByteOrder.LITTLE_ENDIAN);
                return new Parsed(new Info(rate, channels, enc, frames), data);
            }
            pos = body + size + (size & 1); // chunks are word aligned
        }
        throw new WavFormatException(file + (tagFmt == null ? ": no 'fmt ' chunk" : ": no 'data' chunk") + " (truncated or corrupt)");
    }

    private static String tag(byte[] b, int pos) {
        return new String(b, pos, 4, java.nio.charset.StandardCharsets.US_ASCII);
    }

    /** Writes a mono file. */
    public static void writeMono(Path file, float[] samples, int sampleRate, Encoding encoding) throws IOException {
        write(file, new float[][] {samples}, sampleRate, encoding, false);
    }

    /**
     * Writes interleaved channels (all the same length), atomically. Integer encodings clip to
     * [-1, 1) and round to the nearest step.
     *
     * @param extensible write a WAVE_FORMAT_EXTENSIBLE header instead of the plain one
     */
    public static void write(Path file, float[][] channels, int sampleRate, Encoding encoding, boolean extensible) throws IOException {
        int ch = channels.length;
        if (ch == 0) throw new IllegalArgumentException("no channels to write to " + file);
        int frames = channels[0].length;
        for (float[] c : channels)
            if (c.length != frames) throw new IllegalArgumentException("channels of different lengths for " + file);
        int blockAlign = ch * encoding.bytes();
        long dataBytes = (long) frames * blockAlign;
        int fmtSize = extensible ? 40 : (encoding.formatTag == FORMAT_FLOAT ? 18 : 16);
        long riffSize = 4 + (8 + fmtSize) + (encoding.formatTag == FORMAT_FLOAT ? 12 : 0) + 8 + dataBytes + (dataBytes & 1);
        if (riffSize > 0xFFFFFFFFL) throw new IllegalArgumentException("too much audio for one WAV file: " + file);
        ByteBuffer head = ByteBuffer.allocate(80).order(ByteOrder.LITTLE_ENDIAN);
        head.put(ascii("RIFF")).putInt((int) riffSize).put(ascii("WAVE"));
        head.put(ascii("fmt ")).putInt(fmtSize);
        head.putShort((short) (extensible ? FORMAT_EXTENSIBLE : encoding.formatTag)).putShort((short) ch)
                .putInt(sampleRate).putInt(sampleRate * blockAlign).putShort((short) blockAlign).putShort((short) encoding.bits);
        if (extensible) {
            head.putShort((short) 22).putShort((short) encoding.bits).putInt(0); // valid bits, channel mask
            head.putShort((short) encoding.formatTag)
                    .put(new byte[] {0, 0, 0, 0, 0x10, 0, (byte) 0x80, 0, 0, (byte) 0xAA, 0, 0x38, (byte) 0x9B, 0x71});
        } else if (fmtSize == 18) {
            head.putShort((short) 0);
        }
        if (encoding.formatTag == FORMAT_FLOAT) head.put(ascii("fact")).putInt(4).putInt(frames);
        head.put(ascii("data")).putInt((int) dataBytes);
        head.flip();
        AtomicFiles.writeStream(file, out -> {
            out.write(head.array(), 0, head.limit());
            ByteBuffer buf = ByteBuffer.allocate(blockAlign * 4096).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < frames; i++) {
                for (float[] c : channels) put(buf, c[i], encoding);
                if (!buf.hasRemaining()) {
                    out.write(buf.array(), 0, buf.position());
                    buf.clear();
                }
            }
            out.write(buf.array(), 0, buf.position());
            if ((dataBytes & 1) == 1) out.write(0);
        });
    }

    private static void put(ByteBuffer b, float v, Encoding e) {
        switch (e) {
            case PCM_U8 -> b.put((byte) (quantize(v, 8) + 128));
            case PCM_16 -> b.putShort((short) quantize(v, 16));
            case PCM_24 -> {
                int q = (int) quantize(v, 24);
                b.put((byte) q).put((byte) (q >> 8)).put((byte) (q >> 16));
            }
            case PCM_32 -> b.putInt((int) quantize(v, 32));
            case FLOAT_32 -> b.putFloat(v);
            case FLOAT_64 -> b.putDouble(v);
        }
    }

    private static long quantize(float v, int bits) {
        double full = Math.scalb(1.0, bits - 1);
        double q = Math.rint(v * full);
        return (long) Math.max(-full, Math.min(full - 1, q));
    }

    private static byte[] ascii(String s) {
        return s.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    }
}
