package io.mert.allreduce;

import java.time.Duration;

/**
 * @param mtuBytes       Aeron MTU of the ring's publications; each frame fits one MTU, so this sets the chunk size
 * @param termLength     Aeron term buffer length of the ring's publications (a power of two, at least 64 KiB):
 *                       sized to a window of chunks in flight, not to the whole model
 * @param peerTimeout    a neighbour silent this long ends the operation with {@link PeerFailureException}
 */
public record AllReduceConfig(int mtuBytes, int termLength, Duration peerTimeout) {

    public AllReduceConfig {
        if (mtuBytes < 256 || mtuBytes > 65504 || mtuBytes % 32 != 0) {
            throw new IllegalArgumentException("mtuBytes must be a multiple of 32 in [256, 65504], got " + mtuBytes);
        }
        if (Integer.bitCount(termLength) != 1 || termLength < 65536) {
            throw new IllegalArgumentException("termLength must be a power of two >= 64 KiB, got " + termLength);
        }
        if (peerTimeout.isNegative() || peerTimeout.isZero()) throw new IllegalArgumentException("peerTimeout must be positive");
    }

    public static AllReduceConfig defaults() {
        return new AllReduceConfig(8192, 4 << 20, Duration.ofSeconds(10));
    }

    public AllReduceConfig withPeerTimeout(Duration timeout) {
        return new AllReduceConfig(mtuBytes, termLength, timeout);
    }
}
