package io.mert.cli.bench;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Byte counts as people type them: {@code 4096}, {@code 4K}, {@code 64KiB}, {@code 16M}, {@code 1GiB} (binary units). */
public final class ByteSize {

    private static final Pattern FORMAT = Pattern.compile("(\\d+)\\s*([KMG]?)(i?B)?", Pattern.CASE_INSENSITIVE);

    private ByteSize() {
    }

    public static long parse(String text) {
        Matcher m = FORMAT.matcher(text.trim());
        if (!m.matches()) {
            throw new IllegalArgumentException("size '" + text + "' is not a number of bytes with an optional K, M or G "
                    + "(binary) suffix, e.g. 4096, 64K, 16MiB");
        }
        int shift = switch (m.group(2).toUpperCase(Locale.ROOT)) {
            case "K" -> 10;
            case "M" -> 20;
            case "G" -> 30;
            default -> 0;
        };
        long value = Long.parseLong(m.group(1));
        if (value > (Long.MAX_VALUE >> shift)) throw new IllegalArgumentException("size '" + text + "' is too large");
        return value << shift;
    }

    /** The shortest exact binary form: 4096 -> "4 KiB", 1536 -> "1536 B". */
    public static String format(long bytes) {
        String[] units = {"B", "KiB", "MiB", "GiB"};
        int u = 0;
        while (u < units.length - 1 && bytes != 0 && bytes % 1024 == 0) {
            bytes /= 1024;
            u++;
        }
        return bytes + " " + units[u];
    }
}
