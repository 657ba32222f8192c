package io.mert.data.audio;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The first audio track of an MP4/M4A file (ISO/IEC 14496-12 and -14), read straight from the box
 * tree: codec, AAC decoder configuration, where each sample (an AAC frame) lies, the total duration
 * and the first edit. Every size and count is checked against the bytes that hold it before anything
 * is allocated, so a forged header cannot drive memory use.
 *
 * @param codec      the sample entry's four-character code ("mp4a", "alac"...)
 * @param objectType the MPEG-4 object type of "mp4a" (0x40 = MPEG-4 audio, 0x66-0x68 MPEG-2 AAC), else 0
 * @param config     the AudioSpecificConfig from the esds box; null when there is none
 * @param timescale  media ticks per second
 * @param duration   the sum of the sample durations, in media ticks
 * @param editStart  where playback starts (the first edit's media time, in media ticks); 0 without an edit list
 * @param editLength the first edit's length in movie ticks, or -1 (no edit list, or an edit of unknown length)
 * @param movieScale movie ticks per second
 */
record Mp4AudioTrack(String codec, int objectType, byte[] config, long timescale, long duration, long editStart, long editLength,
                     long movieScale, long[] offsets, int[] sizes) {

    /** A box: its type and where its payload lies. */
    private record Box(String type, int start, int end) {}

    static Mp4AudioTrack read(Path file, byte[] b) throws AudioFormatException {
        Box moov = null;
        for (Box x : children(file, b, 0, b.length)) if (x.type.equals("moov")) moov = x;
        if (moov == null) throw new AudioFormatException(file + ": MP4 file without a 'moov' box (truncated, or a fragmented MP4)");
        Box mvhd = child(file, b, moov, "mvhd");
        long movieScale = mvhd == null ? 0 : u32(b, mvhd.start + (b[mvhd.start] == 1 ? 20 : 12), mvhd, file);
        for (Box trak : children(file, b, moov.start, moov.end)) {
            if (!trak.type.equals("trak")) continue;
            Box mdia = need(file, b, trak, "mdia");
            Box hdlr = need(file, b, mdia, "hdlr");
            if (!type(b, hdlr.start + 8, hdlr, file).equals("soun")) continue;
            return audioTrack(file, b, trak, mdia, movieScale);
        }
        throw new AudioFormatException(file + ": MP4 file without an audio track");
    }

    private static Mp4AudioTrack audioTrack(Path file, byte[] b, Box trak, Box mdia, long movieScale) throws AudioFormatException {
        Box mdhd = need(file, b, mdia, "mdhd");
        long timescale = u32(b, mdhd.start + (b[mdhd.start] == 1 ? 20 : 12), mdhd, file);
        if (timescale <= 0) throw new AudioFormatException(file + ": MP4 audio track with timescale 0");
        Box stblBox = need(file, b, need(file, b, mdia, "minf"), "stbl");
        Box stsd = need(file, b, stblBox, "stsd");
        // stsd: version/flags, entry count, then sample entries (boxes)
        List<Box> entries = children(file, b, stsd.start + 8, stsd.end);
        if (entries.isEmpty()) throw new AudioFormatException(file + ": MP4 audio track without a sample description");
        Box entry = entries.get(0);
        String codec = entry.type;
        int objectType = 0;
        byte[] config = null;
        if (codec.equals("mp4a")) {
            // AudioSampleEntry: 28 bytes (version 0; QuickTime versions 1 and 2 add 16 or 36), then child boxes
            int version = u16(b, entry.start + 8, entry, file);
            int skip = 28 + (version == 1 ? 16 : version == 2 ? 36 : 0);
            Box esds = null;
            if (entry.start + skip <= entry.end)
                for (Box x : children(file, b, entry.start + skip, entry.end)) {
                    if (x.type.equals("esds")) esds = x;
                    else if (x.type.equals("wave") && esds == null) esds = child(file, b, x, "esds"); // QuickTime wraps it
                }
            if (esds != null) {
                Descriptors d = new Descriptors(file, b, esds.start + 4, esds.end);
                objectType = d.objectType;
                config = d.config;
            }
        }
        Box stts = need(file, b, stblBox, "stts");
        long duration = 0;
        int n = count(file, b, stts, 8);
        for (int i = 0; i < n; i++) duration += u32(b, stts.start + 8 + 8 * i, stts, file) * u32(b, stts.start + 12 + 8 * i, stts, file);

        Box stsz = need(file, b, stblBox, "stsz");
        long fixed = u32(b, stsz.start + 4, stsz, file);
        long samples = u32(b, stsz.start + 8, stsz, file);
        if (fixed == 0 && samples > (stsz.end - stsz.start - 12) / 4)
            throw new AudioFormatException(file + ": MP4 'stsz' box lists " + samples + " samples but holds " + (stsz.end - stsz.start - 12) / 4);
        if (samples > b.length) throw new AudioFormatException(file + ": MP4 'stsz' box lists " + samples + " samples in a " + b.length + "-byte file");
        int[] sizes = new int[(int) samples];
        for (int i = 0; i < samples; i++) {
            long s = fixed != 0 ? fixed : u32(b, stsz.start + 12 + 4 * i, stsz, file);
            if (s > b.length) throw new AudioFormatException(file + ": MP4 sample " + i + " claims " + s + " bytes");
            sizes[i] = (int) s;
        }

        Box stco = child(file, b, stblBox, "stco");
        Box co64 = child(file, b, stblBox, "co64");
        if (stco == null && co64 == null) throw new AudioFormatException(file + ": MP4 audio track without a chunk offset table");
        boolean wide = stco == null;
        Box co = wide ? co64 : stco;
        int chunks = count(file, b, co, wide ? 8 : 4);
        Box stsc = need(file, b, stblBox, "stsc");
        int runs = count(file, b, stsc, 12);
        long[] offsets = new long[sizes.length];
        int sample = 0;
        for (int r = 0; r < runs && sample < sizes.length; r++) {
            long first = u32(b, stsc.start + 8 + 12 * r, stsc, file);
            long perChunk = u32(b, stsc.start + 12 + 12 * r, stsc, file);
            long next = r + 1 < runs ? u32(b, stsc.start + 8 + 12 * (r + 1), stsc, file) : chunks + 1L;
            if (first < 1 || next <= first || next > chunks + 1L || perChunk > sizes.length)
                throw new AudioFormatException(file + ": MP4 'stsc' box is inconsistent at entry " + r);
            for (long c = first; c < next && sample < sizes.length; c++) {
                int at = co.start + 8 + (int) (c - 1) * (wide ? 8 : 4);
                long pos = wide ? u32(b, at, co, file) << 32 | u32(b, at + 4, co, file) : u32(b, at, co, file);
                for (long k = 0; k < perChunk && sample < sizes.length; k++, sample++) {
                    if (pos + sizes[sample] > b.length)
                        throw new AudioFormatException(file + ": truncated: MP4 sample " + sample + " lies past the end of the file");
                    offsets[sample] = pos;
                    pos += sizes[sample];
                }
            }
        }
        if (sample < sizes.length) throw new AudioFormatException(file + ": MP4 chunk tables place " + sample + " of " + sizes.length + " samples");

        long editStart = 0, editLength = -1;
        Box edts = child(file, b, trak, "edts");
        Box elst = edts == null ? null : child(file, b, edts, "elst");
        if (elst != null) {
            boolean v1 = b[elst.start] == 1;
            int width = v1 ? 20 : 12;
            int edits = count(file, b, elst, width);
            for (int i = 0; i < edits; i++) {
                int at = elst.start + 8 + width * i;
                long len = v1 ? u32(b, at, elst, file) << 32 | u32(b, at + 4, elst, file) : u32(b, at, elst, file);
                long media = v1 ? u32(b, at + 8, elst, file) << 32 | u32(b, at + 12, elst, file) : (int) u32(b, at + 4, elst, file);
                if (media < 0) continue; // an empty edit (a delay before playback): nothing to skip
                editStart = media;
                editLength = len;
                break;
            }
        }
        return new Mp4AudioTrack(codec, objectType, config, timescale, duration, editStart, editLength, movieScale, offsets, sizes);
    }

    /** The MPEG-4 descriptors of an esds box (14496-1 7.2.6): ES_Descriptor > DecoderConfigDescriptor > DecoderSpecificInfo. */
    private static final class Descriptors {
        int objectType;
        byte[] config;

        Descriptors(Path file, byte[] b, int pos, int end) throws AudioFormatException {
            parse(file, b, pos, end, 0);
        }

        private void parse(Path file, byte[] b, int pos, int end, int depth) throws AudioFormatException {
            while (pos + 2 <= end && depth < 4) {
                int tag = b[pos++] & 0xFF;
                int len = 0;
                for (int i = 0; i < 4; i++) {
                    if (pos >= end) throw new AudioFormatException(file + ": MP4 'esds' descriptor runs past its box");
                    int x = b[pos++] & 0xFF;
                    len = len << 7 | (x & 0x7F);
                    if ((x & 0x80) == 0) break;
                }
                if (len > end - pos) throw new AudioFormatException(file + ": MP4 'esds' descriptor of " + len + " bytes runs past its box");
                int body = pos;
                if (tag == 3) { // ES_Descriptor: ES_ID, flags, optional fields, then sub-descriptors
                    if (len < 3) throw new AudioFormatException(file + ": MP4 'esds' ES descriptor too short");
                    int flags = b[body + 2] & 0xFF;
                    int p = body + 3;
                    if ((flags & 0x80) != 0) p += 2;
                    if ((flags & 0x40) != 0) p += 1 + (p < body + len ? b[p] & 0xFF : 0);
                    if ((flags & 0x20) != 0) p += 2;
                    if (p > body + len) throw new AudioFormatException(file + ": MP4 'esds' ES descriptor too short");
                    parse(file, b, p, body + len, depth + 1);
                } else if (tag == 4) { // DecoderConfigDescriptor: objectType, 12 more bytes, then DecoderSpecificInfo
                    if (len < 13) throw new AudioFormatException(file + ": MP4 'esds' decoder config descriptor too short");
                    objectType = b[body] & 0xFF;
                    parse(file, b, body + 13, body + len, depth + 1);
                } else if (tag == 5 && config == null) {
                    config = java.util.Arrays.copyOfRange(b, body, body + len);
                }
                pos = body + len;
            }
        }
    }

    private static int count(Path file, byte[] b, Box box, int entryBytes) throws AudioFormatException {
        long n = u32(b, box.start + 4, box, file);
        if (n > (box.end - box.start - 8) / entryBytes)
            throw new AudioFormatException(file + ": MP4 '" + box.type + "' box lists " + n + " entries but holds " + (box.end - box.start - 8) / entryBytes);
        return (int) n;
    }

    private static List<Box> children(Path file, byte[] b, int pos, int end) throws AudioFormatException {
        List<Box> out = new ArrayList<>();
        while (pos + 8 <= end) {
            long size = Integer.toUnsignedLong(be32(b, pos));
            String type = new String(b, pos + 4, 4, java.nio.charset.StandardCharsets.ISO_8859_1);
            int header = 8;
            if (size == 1) {
                if (pos + 16 > end) throw new AudioFormatException(file + ": MP4 box '" + type + "' at byte " + pos + " is cut short");
                size = (long) be32(b, pos + 8) << 32 | Integer.toUnsignedLong(be32(b, pos + 12));
                header = 16;
            } else if (size == 0) {
                size = end - pos; // runs to the end of its parent
            }
            if (size < header || size > end - pos)
                throw new AudioFormatException(file + ": " + (size > end - pos ? "truncated or corrupt" : "corrupt") + ": MP4 box '"
                        + printable(type) + "' at byte " + pos + " claims " + size + " bytes, " + (end - pos) + " remain");
            out.add(new Box(type, pos + header, (int) (pos + size)));
            pos += (int) size;
        }
        return out;
    }

    private static Box child(Path file, byte[] b, Box parent, String type) throws AudioFormatException {
        for (Box x : children(file, b, parent.start, parent.end)) if (x.type.equals(type)) return x;
        return null;
    }

    private static Box need(Path file, byte[] b, Box parent, String type) throws AudioFormatException {
        Box x = child(file, b, parent, type);
        if (x == null) throw new AudioFormatException(file + ": MP4 '" + parent.type + "' box without its '" + type + "' box");
        return x;
    }

    private static String printable(String s) {
        return s.chars().allMatch(c -> c >= 32 && c < 127) ? s : "?";
    }

    private static String type(byte[] b, int at, Box box, Path file) throws AudioFormatException {
        if (at + 4 > box.end) throw new AudioFormatException(file + ": MP4 '" + box.type + "' box too short");
        return new String(b, at, 4, java.nio.charset.StandardCharsets.ISO_8859_1);
    }

    private static long u32(byte[] b, int at, Box box, Path file) throws AudioFormatException {
        if (at < box.start || at + 4 > box.end) throw new AudioFormatException(file + ": MP4 '" + box.type + "' box too short");
        return Integer.toUnsignedLong(be32(b, at));
    }

    private static int u16(byte[] b, int at, Box box, Path file) throws AudioFormatException {
        if (at < box.start || at + 2 > box.end) throw new AudioFormatException(file + ": MP4 '" + box.type + "' box too short");
        return (b[at] & 0xFF) << 8 | (b[at + 1] & 0xFF);
    }

    private static int be32(byte[] b, int at) {
        return (b[at] & 0xFF) << 24 | (b[at + 1] & 0xFF) << 16 | (b[at + 2] & 0xFF) << 8 | (b[at + 3] & 0xFF);
    }
}
