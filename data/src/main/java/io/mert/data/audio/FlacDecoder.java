package io.mert.data.audio;

import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;

/**
 * A FLAC decoder (RFC 9639), written here so the lossless path is exact and has no third-party
 * dependency. Supports every coding FLAC defines: constant, verbatim, fixed and LPC subframes, Rice
 * and escaped partitions, wasted bits, the stereo decorrelation modes, 4 to 32 bits per sample,
 * fixed and variable block sizes. Every frame's CRC-8 and CRC-16 and the STREAMINFO MD5 of the whole
 * signal are verified, so damaged files fail loudly instead of decoding to noise.
 */
public final class FlacDecoder implements AudioDecoder {
    private static final int[] RATE_CODES = {0, 88200, 176400, 192000, 8000, 16000, 22050, 24000, 32000, 44100, 48000, 96000};
    private static final int[] BITS_CODES = {0, 8, 12, -1, 16, 20, 24, 32};

    @Override
    public AudioFormat format() { return AudioFormat.FLAC; }

    private record StreamInfo(int maxBlock, int sampleRate, int channels, int bits, long totalFrames, byte[] md5) {}

    @Override
    public DecodedAudio decode(Path file, byte[] bytes, double maxSeconds) throws AudioFormatException {
        int start = Id3v2.skip(bytes);
        if (!AudioFormat.startsWith(bytes, start, "fLaC")) throw new AudioFormatException(file + ": not a FLAC file (no 'fLaC' marker)");
        FlacBitReader in = new FlacBitReader(bytes, start + 4, bytes.length);
        try {
            StreamInfo si = metadata(file, in);
            PcmBuffer pcm = new PcmBuffer(file, si.channels, si.sampleRate, maxSeconds);
            MessageDigest md5 = md5();
            long[][] block = new long[si.channels][Math.max(16, si.maxBlock)];
            byte[] md5Bytes = new byte[0];
            int bytesPerSample = (si.bits + 7) / 8;
            float scale = (float) Math.scalb(1.0, -(si.bits - 1));
            while (in.remainingBytes() > 0) {
                if (si.totalFrames > 0 && pcm.frames() == si.totalFrames) break; // trailing tag or padding
                if (in.remainingBytes() >= 3 && AudioFormat.startsWith(bytes, in.bytePos(), "TAG")) break; // ID3v1
                int frameStart = in.bytePos();
                int n = frame(file, in, si, block, frameStart, pcm.frames());
                float[][] out = pcm.reserve(n);
                int at = pcm.frames();
                int need = n * si.channels * bytesPerSample;
                if (md5Bytes.length < need) md5Bytes = new byte[need];
                int m = 0;
                for (int i = 0; i < n; i++)
                    for (int c = 0; c < si.channels; c++) {
                        long v = block[c][i];
                        out[c][at + i] = v * scale;
                        for (int k = 0; k < bytesPerSample; k++) md5Bytes[m++] = (byte) (v >> (8 * k));
                    }
                md5.update(md5Bytes, 0, m);
                pcm.commit(n);
            }
            if (pcm.frames() == 0) throw new AudioFormatException(file + ": FLAC stream has no audio frames");
            if (si.totalFrames > 0 && pcm.frames() != si.totalFrames)
                throw new AudioFormatException(file + ": truncated: STREAMINFO declares " + si.totalFrames
                        + " samples but the frames hold " + pcm.frames());
            if (!allZero(si.md5) && !Arrays.equals(si.md5, md5.digest()))
                throw new AudioFormatException(file + ": decoded audio does not match the MD5 in STREAMINFO (corrupt file)");
            return new DecodedAudio(AudioFormat.FLAC, pcm.all(), si.sampleRate, si.bits);
        } catch (FlacBitReader.Truncated e) {
            throw new AudioFormatException(file + ": truncated FLAC file: the data ends (at byte " + bytes.length
                    + ") in the middle of a metadata block or frame");
        }
    }

    private static StreamInfo metadata(Path file, FlacBitReader in) throws FlacBitReader.Truncated, AudioFormatException {
        StreamInfo si = null;
        boolean last = false;
        while (!last) {
            last = in.uint(1) == 1;
            int type = in.uint(7);
            int length = in.uint(24);
            int body = in.bytePos();
            if (length > in.remainingBytes())
                throw new AudioFormatException(file + ": truncated: metadata block of type " + type + " declares "
                        + length + " bytes but only " + in.remainingBytes() + " follow");
            if (type == 0) {
                if (si != null || length != 34)
                    throw new AudioFormatException(file + ": invalid STREAMINFO block (" + (si != null ? "repeated" : length + " bytes, need 34") + ")");
                int minBlock = in.uint(16), maxBlock = in.uint(16);
                in.bits(24);
                in.bits(24); // min/max frame size: not needed
                int rate = in.uint(20), channels = in.uint(3) + 1, bits = in.uint(5) + 1;
                long total = in.bits(36);
                byte[] md5 = new byte[16];
                for (int i = 0; i < 16; i++) md5[i] = (byte) in.uint(8);
                if (rate == 0) throw new AudioFormatException(file + ": STREAMINFO sample rate is 0");
                if (bits < 4) throw new AudioFormatException(file + ": STREAMINFO declares " + bits + " bits per sample (minimum 4)");
                if (minBlock < 16 && minBlock != maxBlock || maxBlock < minBlock)
                    throw new AudioFormatException(file + ": invalid STREAMINFO block sizes " + minBlock + ".." + maxBlock);
                si = new StreamInfo(maxBlock, rate, channels, bits, total, md5);
            } else if (si == null) {
                throw new AudioFormatException(file + ": the first metadata block must be STREAMINFO, found type " + type);
            } else if (type == 127) {
                throw new AudioFormatException(file + ": invalid metadata block type 127");
            }
            in.seekByte(body + length);
        }
        return si;
    }

    /** Decodes one frame into {@code block}; returns its sample count per channel. */
    private static int frame(Path file, FlacBitReader in, StreamInfo si, long[][] block, int frameStart, long decoded)
            throws FlacBitReader.Truncated, AudioFormatException {
        int sync = in.uint(15);
        if (sync != 0x7FFC) // 14-bit sync code and the reserved 0 bit
            throw new AudioFormatException(file + ": lost frame sync at byte " + frameStart + " after " + decoded
                    + " samples (corrupt file, or garbage after the audio)");
        in.uint(1); // blocking strategy: the frame/sample number that follows is not needed for sequential decoding
        int sizeCode = in.uint(4), rateCode = in.uint(4), assignment = in.uint(4), bitsCode = in.uint(3);
        if (in.uint(1) != 0) throw bad(file, frameStart, "reserved header bit set");
        utf8Number(file, in, frameStart);
        int size = switch (sizeCode) {
            case 0 -> throw bad(file, frameStart, "reserved block size code 0");
            case 1 -> 192;
            case 2, 3, 4, 5 -> 576 << (sizeCode - 2);
            case 6 -> in.uint(8) + 1;
            case 7 -> in.uint(16) + 1;
            default -> 256 << (sizeCode - 8);
        };
        int rate = switch (rateCode) {
            case 0 -> si.sampleRate;
            case 12 -> in.uint(8) * 1000;
            case 13 -> in.uint(16);
            case 14 -> in.uint(16) * 10;
            case 15 -> throw bad(file, frameStart, "invalid sample rate code 15");
            default -> RATE_CODES[rateCode];
        };
        int bits = bitsCode == 0 ? si.bits : BITS_CODES[bitsCode];
        if (bits < 0) throw bad(file, frameStart, "reserved sample size code 3");
        int channels = assignment < 8 ? assignment + 1 : 2;
        if (assignment > 10) throw bad(file, frameStart, "reserved channel assignment " + assignment);
        int headerEnd = in.bytePos();
        int crc8 = in.uint(8);
        if (crc8 != Crc.crc8(in, frameStart, headerEnd)) throw bad(file, frameStart, "header CRC-8 mismatch");
        if (rate != si.sampleRate || bits != si.bits || channels != si.channels)
            throw bad(file, frameStart, "frame has " + rate + " Hz, " + bits + " bits, " + channels
                    + " channels but STREAMINFO says " + si.sampleRate + " Hz, " + si.bits + " bits, " + si.channels
                    + "; streams that change format are not supported");
        if (size > block[0].length) {
            if (size > 65536) throw bad(file, frameStart, "block size " + size + " exceeds 65536");
            for (int c = 0; c < block.length; c++) block[c] = new long[size];
        }
        for (int c = 0; c < channels; c++) {
            // the side channel carries one extra bit
            boolean side = (assignment == 8 && c == 1) || (assignment == 9 && c == 0) || (assignment == 10 && c == 1);
            subframe(file, in, block[c], size, bits + (side ? 1 : 0), frameStart);
        }
        in.alignToByte();
        int crcEnd = in.bytePos();
        int crc16 = in.uint(16);
        if (crc16 != Crc.crc16(in, frameStart, crcEnd)) throw bad(file, frameStart, "frame CRC-16 mismatch");
        decorrelate(block, size, assignment);
        long lo = -(1L << (bits - 1)), hi = (1L << (bits - 1)) - 1;
        for (int c = 0; c < channels; c++)
            for (int i = 0; i < size; i++)
                if (block[c][i] < lo || block[c][i] > hi) throw bad(file, frameStart, "sample outside the " + bits + "-bit range");
        return size;
    }

    private static void decorrelate(long[][] s, int n, int assignment) {
        switch (assignment) {
            case 8 -> { for (int i = 0; i < n; i++) s[1][i] = s[0][i] - s[1][i]; }           // left, side
            case 9 -> { for (int i = 0; i < n; i++) s[0][i] = s[0][i] + s[1][i]; }           // side, right
            case 10 -> {                                                                      // mid, side
                for (int i = 0; i < n; i++) {
                    long side = s[1][i];
                    long mid = (s[0][i] << 1) | (side & 1);
                    s[0][i] = (mid + side) >> 1;
                    s[1][i] = (mid - side) >> 1;
                }
            }
            default -> { }
        }
    }

    private static void subframe(Path file, FlacBitReader in, long[] s, int n, int bits, int frameStart)
            throws FlacBitReader.Truncated, AudioFormatException {
        if (in.uint(1) != 0) throw bad(file, frameStart, "subframe padding bit set");
        int type = in.uint(6);
        int wasted = 0;
        if (in.uint(1) == 1) wasted = in.unary() + 1;
        if (wasted >= bits) throw bad(file, frameStart, wasted + " wasted bits of " + bits);
        int b = bits - wasted;
        if (type == 0) {
            Arrays.fill(s, 0, n, in.sint(b));
        } else if (type == 1) {
            for (int i = 0; i < n; i++) s[i] = in.sint(b);
        } else if (type >= 8 && type <= 12) {
            int order = type - 8;
            if (order > n) throw bad(file, frameStart, "fixed predictor order " + order + " exceeds block size " + n);
            for (int i = 0; i < order; i++) s[i] = in.sint(b);
            residual(file, in, s, n, order, frameStart);
            fixed(s, n, order);
        } else if (type >= 32) {
            int order = type - 31;
            if (order > n) throw bad(file, frameStart, "LPC order " + order + " exceeds block size " + n);
            for (int i = 0; i < order; i++) s[i] = in.sint(b);
            int precision = in.uint(4) + 1;
            if (precision == 16) throw bad(file, frameStart, "invalid LPC coefficient precision");
            int shift = (int) in.sint(5);
            if (shift < 0) throw bad(file, frameStart, "negative LPC shift " + shift);
            long[] coef = new long[order];
            for (int i = 0; i < order; i++) coef[i] = in.sint(precision);
            residual(file, in, s, n, order, frameStart);
            for (int i = order; i < n; i++) {
                long sum = 0;
                for (int j = 0; j < order; j++) sum += coef[j] * s[i - 1 - j];
                s[i] += sum >> shift;
            }
        } else {
            throw bad(file, frameStart, "reserved subframe type " + type);
        }
        if (wasted > 0) for (int i = 0; i < n; i++) s[i] <<= wasted;
    }

    /** Adds nothing yet: stores residuals at s[order..n) for the predictor to add onto. */
    private static void residual(Path file, FlacBitReader in, long[] s, int n, int order, int frameStart)
            throws FlacBitReader.Truncated, AudioFormatException {
        int method = in.uint(2);
        if (method > 1) throw bad(file, frameStart, "reserved residual coding method " + method);
        int paramBits = method == 0 ? 4 : 5;
        int escape = (1 << paramBits) - 1;
        int partitionOrder = in.uint(4);
        int partitions = 1 << partitionOrder;
        if ((n & (partitions - 1)) != 0 || (n >> partitionOrder) < order)
            throw bad(file, frameStart, "partition order " + partitionOrder + " does not fit block size " + n + " and order " + order);
        int i = order;
        for (int p = 0; p < partitions; p++) {
            int count = (n >> partitionOrder) - (p == 0 ? order : 0);
            int k = in.uint(paramBits);
            if (k == escape) {
                int raw = in.uint(5);
                for (int j = 0; j < count; j++) s[i++] = in.sint(raw);
            } else {
                for (int j = 0; j < count; j++) s[i++] = in.rice(k);
            }
        }
    }

    private static void fixed(long[] s, int n, int order) {
        switch (order) {
            case 1 -> { for (int i = 1; i < n; i++) s[i] += s[i - 1]; }
            case 2 -> { for (int i = 2; i < n; i++) s[i] += 2 * s[i - 1] - s[i - 2]; }
            case 3 -> { for (int i = 3; i < n; i++) s[i] += 3 * s[i - 1] - 3 * s[i - 2] + s[i - 3]; }
            case 4 -> { for (int i = 4; i < n; i++) s[i] += 4 * s[i - 1] - 6 * s[i - 2] + 4 * s[i - 3] - s[i - 4]; }
            default -> { }
        }
    }

    /** The frame or sample number, UTF-8-style coded in 1 to 7 bytes; only checked for validity. */
    private static void utf8Number(Path file, FlacBitReader in, int frameStart) throws FlacBitReader.Truncated, AudioFormatException {
        int first = in.uint(8);
        int more = first < 0x80 ? 0 : first >= 0xFE ? (first == 0xFE ? 6 : -1) : Integer.numberOfLeadingZeros(~first << 24) - 1;
        if (more < 0 || (first & 0xC0) == 0x80) throw bad(file, frameStart, "invalid coded frame number");
        for (int i = 0; i < more; i++)
            if ((in.uint(8) & 0xC0) != 0x80) throw bad(file, frameStart, "invalid coded frame number");
    }

    private static AudioFormatException bad(Path file, int frameStart, String what) {
        return new AudioFormatException(file + ": corrupt FLAC frame at byte " + frameStart + ": " + what);
    }

    private static boolean allZero(byte[] b) {
        for (byte x : b) if (x != 0) return false;
        return true;
    }

    private static MessageDigest md5() {
        try {
            return MessageDigest.getInstance("MD5");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK always has MD5", e);
        }
    }

    /** FLAC's CRC-8 (polynomial 0x07) and CRC-16 (0x8005), MSB first, initial 0. */
    static final class Crc {
        private static final int[] T8 = new int[256];
        private static final int[] T16 = new int[256];

        static {
            for (int i = 0; i < 256; i++) {
                int c = i;
                for (int j = 0; j < 8; j++) c = (c & 0x80) != 0 ? ((c << 1) ^ 0x07) & 0xFF : (c << 1) & 0xFF;
                T8[i] = c;
                int d = i << 8;
                for (int j = 0; j < 8; j++) d = (d & 0x8000) != 0 ? ((d << 1) ^ 0x8005) & 0xFFFF : (d << 1) & 0xFFFF;
                T16[i] = d;
            }
        }

        static int crc8(FlacBitReader in, int from, int to) {
            int c = 0;
            for (int i = from; i < to; i++) c = T8[c ^ in.byteAt(i)];
            return c;
        }

        static int crc16(FlacBitReader in, int from, int to) {
            int c = 0;
            for (int i = from; i < to; i++) c = ((c << 8) & 0xFFFF) ^ T16[(c >> 8) ^ in.byteAt(i)];
            return c;
        }
    }
}
