package io.mert.data.audio;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The fallback for formats no Java decoder here reads (WavPack, ALAC, WMA, HE-AAC...): runs
 * {@code ffmpeg -v error -nostdin -i FILE -map 0:a:0 -f wav -acodec pcm_f32le -} and reads its
 * standard output. The first audio stream is decoded at its native rate with all its channels, as
 * 32-bit float; the WAV header ffmpeg writes in front of the samples carries the rate and channel
 * count, so no second process (ffprobe) is needed. The binary is {@code $MERT_FFMPEG} when set,
 * else {@code ffmpeg} on the PATH.
 *
 * <p>A run that exceeds its time limit (1 minute plus 1 second per MB of input) is killed; output
 * beyond the length cap stops the run. Either way, and when ffmpeg fails, the caller gets an
 * {@link AudioFormatException} with ffmpeg's own error message.
 */
public final class FfmpegDecoder {
    /** Environment variable naming the ffmpeg binary to use instead of the one on the PATH. */
    public static final String ENV = "MERT_FFMPEG";
    public static final String INSTALL_HINT = "install ffmpeg (apt-get install ffmpeg) or convert the file to WAV or FLAC";
    private static final int STDERR_KEEP = 2000;

    private final Path ffmpeg;
    private final long baseTimeoutS;

    public FfmpegDecoder(Path ffmpeg) {
        this(ffmpeg, 60);
    }

    /** @param baseTimeoutS the time limit of a run on an empty file; 1 s per MB is added */
    FfmpegDecoder(Path ffmpeg, long baseTimeoutS) {
        this.ffmpeg = ffmpeg;
        this.baseTimeoutS = baseTimeoutS;
    }

    public Path binary() { return ffmpeg; }

    /**
     * The ffmpeg named by {@code $MERT_FFMPEG}, else the first executable {@code ffmpeg} on the
     * PATH, else null.
     *
     * @throws AudioFormatException {@code $MERT_FFMPEG} is set but names no executable file
     */
    public static FfmpegDecoder locate() throws AudioFormatException {
        return locate(System.getenv());
    }

    static FfmpegDecoder locate(java.util.Map<String, String> environment) throws AudioFormatException {
        String env = environment.get(ENV);
        if (env != null && !env.isBlank()) {
            Path p = Path.of(env);
            if (!Files.isRegularFile(p) || !Files.isExecutable(p))
                throw new AudioFormatException(ENV + "=" + env + " is not an executable file; point it at ffmpeg or unset it");
            return new FfmpegDecoder(p);
        }
        String path = environment.get("PATH");
        if (path == null) return null;
        for (String dir : path.split(java.io.File.pathSeparator)) {
            if (dir.isEmpty()) continue;
            Path p = Path.of(dir, "ffmpeg");
            if (Files.isRegularFile(p) && Files.isExecutable(p)) return new FfmpegDecoder(p);
        }
        return null;
    }

    /**
     * @param detected what the content looked like, for messages (e.g. "WavPack", "MP4 audio with codec 'alac'")
     */
    public DecodedAudio decode(Path file, double maxSeconds, String detected) throws IOException {
        long timeoutS = baseTimeoutS + Files.size(file) / 1_000_000;
        List<String> cmd = List.of(ffmpeg.toString(), "-v", "error", "-nostdin", "-i", "file:" + file.toAbsolutePath(),
                "-map", "0:a:0", "-map_metadata", "-1", "-f", "wav", "-acodec", "pcm_f32le", "-");
        Process proc;
        try {
            proc = new ProcessBuilder(cmd).start();
            proc.getOutputStream().close(); // -nostdin: ffmpeg reads no input from us
        } catch (IOException e) {
            throw new AudioFormatException(file + ": " + detected + " needs ffmpeg, but " + ffmpeg + " could not be started (" + e.getMessage()
                    + "); " + INSTALL_HINT, e);
        }
        StderrTail err = new StderrTail(proc.getErrorStream());
        err.start();
        AtomicBoolean killed = new AtomicBoolean();
        Thread watchdog = new Thread(() -> {
            try {
                if (!proc.waitFor(timeoutS, TimeUnit.SECONDS)) {
                    killed.set(true);
                    proc.destroyForcibly();
                }
            } catch (InterruptedException ignored) {
                // the decode finished first
            }
        }, "ffmpeg-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
        try (InputStream out = proc.getInputStream()) {
            DecodedAudio a;
            try {
                a = readWav(file, new DataInputStream(new java.io.BufferedInputStream(out, 1 << 16)), maxSeconds);
            } catch (EOFException e) {
                a = null; // ffmpeg wrote nothing or stopped early: its exit status and message say why
            } catch (AudioFormatException e) {
                proc.destroyForcibly();
                if (e.getMessage().contains("longer than the limit")) throw e;
                a = null;
            }
            int rc = proc.waitFor();
            err.join(5000);
            if (killed.get())
                throw new AudioFormatException(file + ": ffmpeg did not finish decoding " + detected + " within " + timeoutS + " s; killed");
            if (rc != 0 || a == null)
                throw new AudioFormatException(file + ": ffmpeg could not decode it (" + detected + "; exit status " + rc + "): "
                        + err.text().strip());
            return a;
        } catch (InterruptedException e) {
            proc.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new AudioFormatException(file + ": interrupted while ffmpeg was decoding", e);
        } finally {
            watchdog.interrupt();
            if (proc.isAlive()) proc.destroyForcibly();
        }
    }

    /** ffmpeg's streamed WAV: RIFF header, fmt chunk, maybe others, then a data chunk that runs to the end. */
    private static DecodedAudio readWav(Path file, DataInputStream in, double maxSeconds) throws IOException {
        byte[] id = new byte[4];
        in.readFully(id);
        if (!"RIFF".equals(ascii(id))) throw new AudioFormatException(file + ": ffmpeg output is not WAV");
        in.readInt();
        in.readFully(id);
        int channels = 0, rate = 0;
        while (true) {
            in.readFully(id);
            long size = Integer.toUnsignedLong(Integer.reverseBytes(in.readInt()));
            String chunk = ascii(id);
            if (chunk.equals("data")) break;
            if (chunk.equals("fmt ")) {
                if (size < 16 || size > 1024) throw new AudioFormatException(file + ": ffmpeg wrote a bad fmt chunk");
                byte[] f = new byte[(int) size];
                in.readFully(f);
                int tag = u16(f, 0);
                channels = u16(f, 2);
                rate = (int) (u16(f, 4) | (long) u16(f, 6) << 16);
                int bits = u16(f, 14);
                if ((tag != 3 && tag != 0xFFFE) || bits != 32 || channels <= 0 || rate <= 0)
                    throw new AudioFormatException(file + ": ffmpeg wrote format " + tag + ", " + bits + " bits, " + channels + " channels, "
                            + rate + " Hz; expected 32-bit float");
                if ((size & 1) == 1) in.skipNBytes(1);
            } else {
                in.skipNBytes(size + (size & 1));
            }
        }
        if (channels == 0) throw new AudioFormatException(file + ": ffmpeg's WAV output has no fmt chunk before its data");
        PcmBuffer pcm = new PcmBuffer(file, channels, rate, maxSeconds);
        int frameBytes = 4 * channels;
        byte[] buf = new byte[frameBytes * 4096];
        int have = 0;
        while (true) {
            int r = in.read(buf, have, buf.length - have);
            if (r < 0) break;
            have += r;
            int n = have / frameBytes;
            if (n == 0) continue;
            float[][] dst = pcm.reserve(n);
            int at = pcm.frames();
            for (int i = 0, k = 0; i < n; i++)
                for (int c = 0; c < channels; c++, k += 4)
                    dst[c][at + i] = Float.intBitsToFloat((buf[k] & 0xFF) | (buf[k + 1] & 0xFF) << 8 | (buf[k + 2] & 0xFF) << 16 | buf[k + 3] << 24);
            pcm.commit(n);
            int used = n * frameBytes;
            System.arraycopy(buf, used, buf, 0, have - used);
            have -= used;
        }
        return new DecodedAudio(AudioFormat.FFMPEG, pcm.all(), rate, 0);
    }

    private static int u16(byte[] b, int i) {
        return (b[i] & 0xFF) | (b[i + 1] & 0xFF) << 8;
    }

    private static String ascii(byte[] b) {
        return new String(b, StandardCharsets.ISO_8859_1);
    }

    /** Drains ffmpeg's stderr (so it never blocks on a full pipe), keeping the last part for messages. */
    private static final class StderrTail extends Thread {
        private final InputStream in;
        private final ByteArrayOutputStream kept = new ByteArrayOutputStream();

        StderrTail(InputStream in) {
            super("ffmpeg-stderr");
            setDaemon(true);
            this.in = in;
        }

        @Override
        public void run() {
            byte[] b = new byte[4096];
            try (in) {
                int r;
                while ((r = in.read(b)) >= 0) {
                    synchronized (kept) {
                        kept.write(b, 0, r);
                        if (kept.size() > 4 * STDERR_KEEP) {
                            byte[] all = kept.toByteArray();
                            kept.reset();
                            kept.write(all, all.length - STDERR_KEEP, STDERR_KEEP);
                        }
                    }
                }
            } catch (IOException ignored) {
                // the process was killed
            }
        }

        String text() {
            synchronized (kept) {
                byte[] all = kept.toByteArray();
                int from = Math.max(0, all.length - STDERR_KEEP);
                String s = new String(all, from, all.length - from, StandardCharsets.UTF_8);
                return s.isBlank() ? "(no message)" : s;
            }
        }
    }
}
