package io.mert.data.fuzz;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;

import java.util.Arrays;
import java.util.List;

/**
 * One damage to a file's bytes, with positions as fractions of the length so that a mutation
 * applies to any file and jqwik can shrink it. {@link #arbitrary()} mixes the kinds a fuzzer uses:
 * bit flips, truncation, inserted bytes, a 32- or 64-bit field forged to an extreme value (length
 * and count fields), and overwriting with garbage.
 */
public sealed interface ByteMutation {

    byte[] apply(byte[] in);

    /** Extreme values a forged length or count field takes. */
    List<Long> FORGED = List.of(0L, 1L, -1L, 0x7FFFFFFFL, 0x80000000L, 0xFFFFFFFFL, Long.MAX_VALUE, Long.MIN_VALUE,
            1L << 31, 1L << 32, 1L << 40, 100_000_001L);

    record FlipBit(double at, int bit) implements ByteMutation {
        public byte[] apply(byte[] in) {
            if (in.length == 0) return in;
            byte[] b = in.clone();
            b[index(at, b.length)] ^= (byte) (1 << bit);
            return b;
        }
    }

    record Truncate(double keep) implements ByteMutation {
        public byte[] apply(byte[] in) {
            return Arrays.copyOf(in, Math.min(in.length, (int) (keep * in.length)));
        }
    }

    record Insert(double at, byte[] bytes) implements ByteMutation {
        public byte[] apply(byte[] in) {
            int p = in.length == 0 ? 0 : index(at, in.length + 1);
            byte[] b = new byte[in.length + bytes.length];
            System.arraycopy(in, 0, b, 0, p);
            System.arraycopy(bytes, 0, b, p, bytes.length);
            System.arraycopy(in, p, b, p + bytes.length, in.length - p);
            return b;
        }

        @Override
        public String toString() { return "Insert[at=" + at + ", bytes=" + Arrays.toString(bytes) + "]"; }
    }

    /** Writes {@code value} little-endian over {@code width} bytes (4 or 8) at a position. */
    record Forge(double at, long value, int width, boolean bigEndian) implements ByteMutation {
        public byte[] apply(byte[] in) {
            if (in.length < width) return in;
            byte[] b = in.clone();
            int p = index(at, b.length - width + 1);
            for (int i = 0; i < width; i++) {
                byte v = (byte) (value >>> (8 * i));
                b[bigEndian ? p + width - 1 - i : p + i] = v;
            }
            return b;
        }
    }

    record Overwrite(double at, byte[] bytes) implements ByteMutation {
        public byte[] apply(byte[] in) {
            byte[] b = in.clone();
            int p = in.length == 0 ? 0 : index(at, in.length);
            for (int i = 0; i < bytes.length && p + i < b.length; i++) b[p + i] = bytes[i];
            return b;
        }

        @Override
        public String toString() { return "Overwrite[at=" + at + ", bytes=" + Arrays.toString(bytes) + "]"; }
    }

    private static int index(double fraction, int n) {
        return Math.min(n - 1, Math.max(0, (int) (fraction * n)));
    }

    static Arbitrary<ByteMutation> arbitrary() {
        Arbitrary<Double> at = Arbitraries.doubles().between(0, 1);
        Arbitrary<byte[]> junk = Arbitraries.bytes().array(byte[].class).ofMinSize(1).ofMaxSize(64);
        return Arbitraries.oneOf(
                Combinators.combine(at, Arbitraries.integers().between(0, 7)).as(FlipBit::new),
                at.map(Truncate::new),
                Combinators.combine(at, junk).as(Insert::new),
                Combinators.combine(at, Arbitraries.oneOf(Arbitraries.of(FORGED), Arbitraries.longs()),
                        Arbitraries.of(4, 8), Arbitraries.of(false, true)).as(Forge::new),
                Combinators.combine(at, junk).as(Overwrite::new));
    }

    /** One to four mutations applied in order. */
    static Arbitrary<List<ByteMutation>> several() {
        return arbitrary().list().ofMinSize(1).ofMaxSize(4);
    }

    static byte[] applyAll(List<ByteMutation> ms, byte[] in) {
        byte[] b = in;
        for (ByteMutation m : ms) b = m.apply(b);
        return b;
    }
}
