package io.mert.allreduce;

import io.mert.protocol.frame.WireFormat;

import java.time.Duration;
import java.util.Objects;

/**
 * @param mtuBytes       Aeron MTU of the ring's publications; each frame fits one MTU, so this sets the chunk size
 * @param termLength     Aeron term buffer length of the ring's publications (a power of two, at least 64 KiB):
 *                       sized to a window of chunks in flight, not to the whole model
 * @param peerTimeout    a neighbour silent this long ends the operation with {@link PeerFailureException}
 * @param wire           how values travel: {@link WireFormat#FP32} (exact, the default) or {@link WireFormat#BF16}
 *                       (half the bytes; sums are still accumulated in float32, and every rank ends with the same
 *                       bfloat16-valued result). The default of generations started without naming a format
 */
public record AllReduceConfig(int mtuBytes, int termLength, Duration peerTimeout, WireFormat wire) {

    public AllReduceConfig {
        if (mtuBytes < 256 || mtuBytes > 65504 || mtuBytes % 32 != 0) {
            throw new IllegalArgumentException("mtuBytes must be a multiple of 32 in [256, 65504], got " + mtuBytes);
        }
        if (Integer.bitCount(termLength) != 1 || termLength < 65536) {
            throw new IllegalArgumentException("termLength must be a power of two >= 64 KiB, got " + termLength);
        }
        if (peerTimeout.isNegative() || peerTimeout.isZero()) throw new IllegalArgumentException("peerTimeout must be positive");
        Objects.requireNonNull(wire, "wire");
    }

    /** A float32 wire. */
    public AllReduceConfig(int mtuBytes, int termLength, Duration peerTimeout) {
        this(mtuBytes, termLength, peerTimeout, WireFormat.FP32);
    }

    public static AllReduceConfig defaults() {
        return new AllReduceConfig(8192, 4 << 20, Duration.ofSeconds(10));
    }

    public AllReduceConfig withPeerTimeout(Duration timeout) {
        return new AllReduceConfig(mtuBytes, termLength, timeout, wire);
    }

    public AllReduceConfig withWire(WireFormat format) {
        return new AllReduceConfig(mtuBytes, termLength, peerTimeout, format);
    }
}
