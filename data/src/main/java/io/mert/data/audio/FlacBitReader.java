package io.mert.data.audio;

/**
 * Big-endian bit reader over a byte array, as FLAC frames are coded. Every read is bounds checked:
 * running off the end throws {@link Truncated} instead of reading garbage.
 */
final class FlacBitReader {
    /** Thrown when a read passes the end of the data; the decoder turns it into a message with the file name. */
    static final class Truncated extends Exception {
        Truncated() {
            super(null, null, false, false);
        }
    }

    private final byte[] b;
    private final int end;
    private long bit; // absolute bit position

    FlacBitReader(byte[] b, int start, int end) {
        this.b = b;
        this.end = end;
        this.bit = (long) start << 3;
    }

    int byteAt(int pos) { return b[pos] & 0xFF; }

    int bytePos() { return (int) (bit >>> 3); }

    boolean byteAligned() { return (bit & 7) == 0; }

    void alignToByte() { bit = (bit + 7) & ~7L; }

    void seekByte(int pos) { bit = (long) pos << 3; }

    int remainingBytes() { return end - bytePos(); }

    /** Unsigned value of the next {@code n} bits, n in [0, 32]. */
    long bits(int n) throws Truncated {
        if (bit + n > ((long) end << 3)) throw new Truncated();
        long v = 0;
        while (n > 0) {
            int idx = (int) (bit >>> 3);
            int off = (int) (bit & 7);
            int take = Math.min(8 - off, n);
            int cur = (b[idx] & 0xFF) >>> (8 - off - take) & ((1 << take) - 1);
            v = (v << take) | cur;
            bit += take;
            n -= take;
        }
        return v;
    }

    int uint(int n) throws Truncated {
        return (int) bits(n);
    }

    /** Two's complement value of the next {@code n} bits, n in [1, 33]. */
    long sint(int n) throws Truncated {
        if (n == 0) return 0;
        long v = n > 32 ? (bits(n - 32) << 32) | bits(32) : bits(n);
        return (v << (64 - n)) >> (64 - n);
    }

    /** Number of 0 bits before the next 1 bit (which is consumed). */
    int unary() throws Truncated {
        int zeros = 0;
        long limit = (long) end << 3;
        while (true) {
            if (bit >= limit) throw new Truncated();
            int idx = (int) (bit >>> 3);
            int off = (int) (bit & 7);
            int rest = (b[idx] << off) & 0xFF; // remaining bits of this byte, left aligned
            if (rest == 0) {
                zeros += 8 - off;
                bit += 8 - off;
            } else {
                int lead = Integer.numberOfLeadingZeros(rest) - 24;
                zeros += lead;
                bit += lead + 1;
                return zeros;
            }
        }
    }

    /** A Rice-coded residual with parameter {@code k}, zig-zag mapped back to signed. */
    long rice(int k) throws Truncated {
        long q = unary();
        long u = (q << k) | bits(k);
        return (u >>> 1) ^ -(u & 1);
    }
}
