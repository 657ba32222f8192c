package io.mert.data.audio;

import com.jcraft.jogg.Packet;
import com.jcraft.jogg.Page;
import com.jcraft.jogg.StreamState;
import com.jcraft.jogg.SyncState;
import com.jcraft.jorbis.Block;
import com.jcraft.jorbis.Comment;
import com.jcraft.jorbis.DspState;
import com.jcraft.jorbis.Info;

import java.nio.file.Path;

/**
 * Ogg Vorbis through JOrbis (pure Java, LGPL). Reads the first logical stream; its length is the
 * granule position of the last page, which trims the padding of the final block exactly as the
 * reference decoder does. Page CRC failures, missing packets, a missing end-of-stream page
 * (truncation) and decoder exceptions all become {@link AudioFormatException}s.
 */
public final class VorbisDecoder implements AudioDecoder {
    private static final int CHUNK = 8192;

    @Override
    public AudioFormat format() { return AudioFormat.OGG_VORBIS; }

    @Override
    public DecodedAudio decode(Path file, byte[] bytes, double maxSeconds) throws AudioFormatException {
        try {
            return run(file, bytes, maxSeconds);
        } catch (RuntimeException | OutOfMemoryError e) {
            // JOrbis reports some malformed headers and packets only by failing (index out of bounds,
            // absurd table sizes); none of that must escape as a crash
            throw new AudioFormatException(file + ": corrupt Ogg Vorbis data (" + e + ")", e);
        }
    }

    private static DecodedAudio run(Path file, byte[] bytes, double maxSeconds) throws AudioFormatException {
        SyncState sync = new SyncState();
        StreamState stream = new StreamState();
        Page page = new Page();
        Packet packet = new Packet();
        Info info = new Info();
        Comment comment = new Comment();
        sync.init();
        info.init();
        comment.init();
        DspState dsp = null;
        Block block = null;
        PcmBuffer pcm = null;
        float[][][] out = new float[1][][];
        int[] index = null;
        int fed = 0, headers = 0, serial = 0;
        long lastGranule = -1;
        boolean started = false, ended = false;
        while (!ended) {
            int r = sync.pageout(page);
            if (r == 0) {
                if (fed >= bytes.length) break;
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
            while (true) {
                int p = stream.packetout(packet);
                if (p == 0) break;
                if (p < 0) throw new AudioFormatException(file + ": missing Ogg data (a page was lost) before byte " + fed);
                if (headers < 3) {
                    if (info.synthesis_headerin(comment, packet) < 0)
                        throw new AudioFormatException(file + ": invalid Vorbis header packet " + (headers + 1) + " of 3");
                    if (++headers == 3) {
                        if (info.channels <= 0 || info.rate <= 0)
                            throw new AudioFormatException(file + ": invalid Vorbis stream: " + info.channels + " channels at " + info.rate + " Hz");
                        dsp = new DspState();
                        dsp.synthesis_init(info);
                        block = new Block(dsp);
                        pcm = new PcmBuffer(file, info.channels, info.rate, maxSeconds);
                        index = new int[info.channels];
                    }
                    continue;
                }
                if (block.synthesis(packet) != 0)
                    throw new AudioFormatException(file + ": undecodable Vorbis audio packet before byte " + fed);
                dsp.synthesis_blockin(block);
                int n;
                while ((n = dsp.synthesis_pcmout(out, index)) > 0) {
                    float[][] dst = pcm.reserve(n);
                    int at = pcm.frames();
                    for (int c = 0; c < info.channels; c++) System.arraycopy(out[0][c], index[c], dst[c], at, n);
                    pcm.commit(n);
                    dsp.synthesis_read(n);
                }
            }
            if (page.granulepos() >= 0) lastGranule = page.granulepos();
            if (page.eos() != 0) ended = true;
        }
        if (!started) throw new AudioFormatException(file + ": no Ogg page found");
        if (headers < 3) throw new AudioFormatException(file + ": truncated: only " + headers + " of the 3 Vorbis header packets present");
        if (!ended) throw new AudioFormatException(file + ": truncated: no end-of-stream page (the file was cut short)");
        long keep = lastGranule >= 0 ? Math.min(lastGranule, pcm.frames()) : pcm.frames();
        if (keep == 0) throw new AudioFormatException(file + ": Ogg Vorbis stream holds no audio");
        return new DecodedAudio(AudioFormat.OGG_VORBIS, pcm.trimmed(0, keep), info.rate, 0);
    }
}
