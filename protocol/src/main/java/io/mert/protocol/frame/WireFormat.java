package io.mert.protocol.frame;

import java.util.Locale;

/**
 * How an allreduce frame carries its values. Every frame names its format in the header, so a
 * receiver can tell a frame of the other format from a genuine one and drop it.
 */
public enum WireFormat {
    /** IEEE float32, the buffer's own bits: exact. */
    FP32(1, Float.BYTES),
    /** bfloat16 (the upper half of a float32, rounded to nearest even): half the bytes, 8 significant bits. */
    BF16(2, 2);

    private final int code;
    private final int bytesPerValue;

    WireFormat(int code, int bytesPerValue) {
        this.code = code;
        this.bytesPerValue = bytesPerValue;
    }

    /** The header's wire-format field. */
    public int code() {
        return code;
    }

    public int bytesPerValue() {
        return bytesPerValue;
    }

    /** The name users write ({@code fp32}, {@code bf16}). */
    public String configName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Parses {@code fp32} or {@code bf16} (any case); the message names {@code what} and the allowed values. */
    public static WireFormat parse(String text, String what) {
        for (WireFormat w : values()) if (w.configName().equalsIgnoreCase(text.trim())) return w;
        throw new IllegalArgumentException(what + "='" + text + "': allowed values are fp32, bf16");
    }
}
