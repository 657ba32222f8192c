package io.mert.data.audio;

import com.jcraft.jogg.Packet;
import com.jcraft.jogg.Page;
import com.jcraft.jogg.StreamState;
import com.jcraft.jogg.SyncState;

import java.nio.file.Path;

/**
 * The packets of the first logical stream of an Ogg file, in order, with the granule position of the
 * page each packet completes on. Checksum failures, lost pages and a missing end-of-stream page
 * (truncation) become {@link AudioFormatException}s.
 */
final class OggPackets {
    private static final int CHUNK = 8192;
    private final Path file;
    private final byte[] bytes;
    private final SyncState sync = new SyncState();
    private final StreamState stream = new StreamState();
    private final Page page = new Page();
    private final Packet packet = new Packet();
    private int fed, serial;
    private boolean started, ended, pageDone = true;
    private long granule = -1;
    private boolean lastOnPage;

    OggPackets(Path file, byte[] bytes) {
        this.file = file;
        this.bytes = bytes;
        sync.init();
    }

    /** The next packet's bytes, or null after the end-of-stream page. */
    byte[] next() throws AudioFormatException {
        while (true) {
            if (!pageDone) {
                int p = stream.packetout(packet);
                if (p < 0) throw new AudioFormatException(file + ": missing Ogg data (a page was lost) before byte " + fed);
                if (p > 0) {
                    byte[] out = new byte[packet.bytes];
                    System.arraycopy(packet.packet_base, packet.packet, out, 0, packet.bytes);
                    // jogg sets granulepos on the last packet completed on a page only
                    lastOnPage = packet.granulepos != -1;
                    if (lastOnPage) granule = packet.granulepos;
                    return out;
                }
                pageDone = true;
                if (ended) return null;
            }
            if (ended) return null;
            if (!nextPage()) {
                if (!started) throw new AudioFormatException(file + ": no Ogg page found");
                throw new AudioFormatException(file + ": truncated: no end-of-stream page (the file was cut short)");
            }
        }
    }

    /** The granule position of the page the last returned packet completed on, when it was that page's last packet; else -1. */
    long granuleIfLastOnPage() { return lastOnPage ? granule : -1; }

    /** The granule position of the last page read so far (-1 when none carried one). */
    long lastGranule() { return granule; }

    /** Whether the page being read (or last read) is the end-of-stream page. */
    boolean onEndPage() { return ended; }

    private boolean nextPage() throws AudioFormatException {
        while (true) {
            int r = sync.pageout(page);
            if (r == 0) {
                if (fed >= bytes.length) return false;
                int n = Math.min(CHUNK, bytes.length - fed);
                int at = sync.buffer(n);
                System.arraycopy(bytes, fed, sync.data, at, n);
                sync.wrote(n);
                fed += n;
                continue;
            }
            if (r < 0) throw new AudioFormatException(file + ": corrupt Ogg page (bad checksum or lost sync) before byte " + fed);
            if (!started) {
                serial = page.serialno();
                stream.init(serial);
                started = true;
            }
            if (page.serialno() != serial) continue; // another logical stream multiplexed in: not ours
            if (stream.pagein(page) < 0) throw new AudioFormatException(file + ": Ogg page out of sequence before byte " + fed);
            if (page.eos() != 0) ended = true;
            pageDone = false;
            return true;
        }
    }
}
