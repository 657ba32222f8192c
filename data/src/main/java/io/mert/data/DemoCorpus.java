package io.mert.data;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sound.midi.InvalidMidiDataException;
import javax.sound.midi.MidiEvent;
import javax.sound.midi.MidiSystem;
import javax.sound.midi.Sequence;
import javax.sound.midi.ShortMessage;
import javax.sound.midi.Track;
import javax.sound.sampled.AudioFormat;
import javax.sound.sampled.AudioInputStream;
import javax.sound.sampled.AudioSystem;
import javax.sound.sampled.UnsupportedAudioFileException;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A small, seeded music corpus rendered offline with the JDK's own MIDI synthesizer (Gervill).
 *
 * <p>Each clip is a short piece: a chord progression (pad or piano), a bass line, a melody on a
 * scale of the key, and on most clips a drum pattern on channel 10, with instruments, tempo, key,
 * mode and length (5 to 20 s) drawn from the seed. The MIDI sequence is rendered through the
 * public sound API: {@code AudioSystem.getAudioInputStream} on a standard MIDI file is served by
 * Gervill's MIDI-to-audio file reader, which runs a {@code SoftSynthesizer} offline (no sound card,
 * works headless; without a soundbank installed the JDK synthesises its emergency soundbank). The
 * 44.1 kHz stereo rendering is mixed to mono, cut to the clip length, peak-normalised and resampled
 * to 22050 Hz (deliberately not 24 kHz, so the pipeline's resampler is exercised), then written as
 * 16-bit PCM WAV files {@code clip_000.wav, clip_001.wav, ...}.
 *
 * <p>The note content is a pure function of the seed; the audio is as deterministic as Gervill.
 */
public final class DemoCorpus {
    private static final Logger LOG = LoggerFactory.getLogger(DemoCorpus.class);
    public static final int SAMPLE_RATE = 22050;
    private static final int PPQ = 480;
    private static final int[] MAJOR = {0, 2, 4, 5, 7, 9, 11};
    private static final int[] MINOR = {0, 2, 3, 5, 7, 8, 10};
    private static final int[][] PROGRESSIONS = {{0, 4, 5, 3}, {0, 3, 4, 4}, {0, 5, 3, 4}, {5, 3, 0, 4}, {0, 3, 0, 4}};
    private static final int[] MELODY_PROGRAMS = {0, 4, 11, 22, 24, 40, 56, 65, 71, 73, 80, 81};
    private static final int[] CHORD_PROGRAMS = {0, 2, 16, 19, 48, 49, 52, 88, 89};
    private static final int[] BASS_PROGRAMS = {32, 33, 34, 35, 38, 39, 42};

    private DemoCorpus() {}

    /** Description of one generated clip. */
    public record ClipInfo(Path file, double seconds, int tempoBpm, int keyRoot, boolean minor, boolean drums) {}

    /**
     * Renders {@code clips} clips into {@code dir} (created if needed).
     *
     * @return the written clips in order
     */
    public static List<ClipInfo> generate(Path dir, int clips, long seed) throws IOException {
        if (clips <= 0) throw new IllegalArgumentException("clips must be positive, got " + clips);
        Files.createDirectories(dir);
        List<ClipInfo> out = new ArrayList<>();
        Resampler down = new Resampler(44100, SAMPLE_RATE);
        for (int c = 0; c < clips; c++) {
            SplittableRandom rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + c);
            Piece piece = compose(rnd);
            float[] mono = render(piece.sequence, piece.seconds);
            float[] audio = down.apply(mono);
            audio = java.util.Arrays.copyOf(audio, (int) Math.round(piece.seconds * SAMPLE_RATE));
            normalise(audio, 0.89f);
            Path file = dir.resolve(String.format("clip_%03d.wav", c));
            WavFile.writeMono(file, audio, SAMPLE_RATE, WavFile.Encoding.PCM_16);
            out.add(new ClipInfo(file, piece.seconds, piece.tempo, piece.root, piece.minor, piece.drums));
            LOG.debug("rendered {} ({} s, {} bpm, key {}{}, drums {})", file.getFileName(),
                    String.format("%.2f", piece.seconds), piece.tempo, piece.root, piece.minor ? "m" : "", piece.drums);
        }
        LOG.info("demo corpus: {} clips, {} s of audio in {}", clips,
                String.format("%.1f", out.stream().mapToDouble(ClipInfo::seconds).sum()), dir);
        return out;
    }

    private record Piece(Sequence sequence, double seconds, int tempo, int root, boolean minor, boolean drums) {}

    private static Piece compose(SplittableRandom rnd) {
        try {
            int tempo = 80 + rnd.nextInt(81);
            int root = 43 + rnd.nextInt(12); // G2..F#3: chord voicing octave
            boolean minor = rnd.nextBoolean();
            boolean drums = rnd.nextInt(4) != 0;
            int[] scale = minor ? MINOR : MAJOR;
            int[] prog = PROGRESSIONS[rnd.nextInt(PROGRESSIONS.length)];
            double targetSeconds = 5 + rnd.nextDouble() * 15;
            double beatSeconds = 60.0 / tempo;
            int bars = Math.max(1, (int) Math.round(targetSeconds / (4 * beatSeconds)));
            double seconds = Math.min(20.0, Math.max(5.0, bars * 4 * beatSeconds));

            Sequence seq = new Sequence(Sequence.PPQ, PPQ);
            Track track = seq.createTrack();
            int usPerBeat = (int) Math.round(60_000_000.0 / tempo);
            track.add(new MidiEvent(new javax.sound.midi.MetaMessage(0x51,
                    new byte[] {(byte) (usPerBeat >> 16), (byte) (usPerBeat >> 8), (byte) usPerBeat}, 3), 0));
            program(track, 0, MELODY_PROGRAMS[rnd.nextInt(MELODY_PROGRAMS.length)]);
            program(track, 1, CHORD_PROGRAMS[rnd.nextInt(CHORD_PROGRAMS.length)]);
            program(track, 2, BASS_PROGRAMS[rnd.nextInt(BASS_PROGRAMS.length)]);

            int degree = 0;
            int[] durations = {PPQ / 2, PPQ / 2, PPQ, PPQ, PPQ / 4 * 3, 2 * PPQ};
            long melodyTick = 0;
            long end = (long) bars * 4 * PPQ;
            for (int bar = 0; bar < bars; bar++) {
                long barTick = (long) bar * 4 * PPQ;
                int chordDegree = prog[bar % prog.length];
                for (int i = 0; i < 3; i++) {
                    int d = chordDegree + 2 * i;
                    note(track, 1, root + scale[d % 7] + 12 * (d / 7), 60 + rnd.nextInt(20), barTick, 4 * PPQ - 20);
                }
                int bassNote = root - 12 + scale[chordDegree];
                for (int beat = 0; beat < 4; beat++)
                    note(track, 2, bassNote + (beat == 2 && rnd.nextBoolean() ? 7 : 0), 90, barTick + (long) beat * PPQ, PPQ - 40);
                if (drums) {
                    for (int eighth = 0; eighth < 8; eighth++) {
                        long t = barTick + (long) eighth * PPQ / 2;
                        note(track, 9, 42, 50 + rnd.nextInt(30), t, PPQ / 4);
                        if (eighth % 4 == 0 || (eighth == 5 && rnd.nextInt(3) == 0)) note(track, 9, 36, 110, t, PPQ / 4);
                        if (eighth % 4 == 2) note(track, 9, 38, 100, t, PPQ / 4);
                    }
                    if (bar % 4 == 3) note(track, 9, 49, 90, barTick + 4 * PPQ - PPQ / 2, PPQ / 2);
                }
            }
            while (melodyTick < end) {
                int dur = durations[rnd.nextInt(durations.length)];
                degree = Math.max(-3, Math.min(11, degree + rnd.nextInt(5) - 2));
                if (rnd.nextInt(8) != 0) {
                    int d = degree + 14;
                    int pitch = root + 12 + scale[d % 7] + 12 * (d / 7 - 2);
                    note(track, 0, pitch, 80 + rnd.nextInt(40), melodyTick, (int) Math.min(dur - 10, end - melodyTick));
                }
                melodyTick += dur;
            }
            return new Piece(seq, seconds, tempo, root, minor, drums);
        } catch (InvalidMidiDataException e) {
            throw new IllegalStateException("composed an invalid MIDI event", e);
        }
    }

    private static void program(Track track, int channel, int program) throws InvalidMidiDataException {
        track.add(new MidiEvent(new ShortMessage(ShortMessage.PROGRAM_CHANGE, channel, program, 0), 0));
    }

    private static void note(Track track, int channel, int pitch, int velocity, long tick, int length)
            throws InvalidMidiDataException {
        if (length <= 0) return;
        track.add(new MidiEvent(new ShortMessage(ShortMessage.NOTE_ON, channel, pitch, velocity), tick));
        track.add(new MidiEvent(new ShortMessage(ShortMessage.NOTE_OFF, channel, pitch, 0), tick + length));
    }

    /** Renders a sequence to mono 44.1 kHz through Gervill's MIDI audio file reader. */
    private static float[] render(Sequence seq, double seconds) throws IOException {
        ByteArrayOutputStream midi = new ByteArrayOutputStream();
        MidiSystem.write(seq, 1, midi);
        try (AudioInputStream ais = AudioSystem.getAudioInputStream(new ByteArrayInputStream(midi.toByteArray()))) {
            AudioFormat f = ais.getFormat();
            if (f.getEncoding() != AudioFormat.Encoding.PCM_SIGNED || f.getSampleSizeInBits() != 16 || f.isBigEndian()
                    || Math.round(f.getSampleRate()) != 44100)
                throw new IOException("unexpected format from the MIDI renderer: " + f);
            int channels = f.getChannels();
            int frames = (int) Math.ceil(seconds * 44100) + 2048; // a little beyond the end for the resampler
            byte[] bytes = ais.readNBytes(frames * channels * 2);
            ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            float[] mono = new float[frames];
            int got = bytes.length / (2 * channels);
            for (int i = 0; i < got; i++) {
                double s = 0;
                for (int c = 0; c < channels; c++) s += b.getShort();
                mono[i] = (float) (s / channels / 32768.0);
            }
            return mono;
        } catch (UnsupportedAudioFileException e) {
            throw new IOException("this JDK cannot render MIDI to audio (Gervill's MIDI audio file reader is missing)", e);
        }
    }

    private static void normalise(float[] x, float peak) {
        float max = 0;
        for (float v : x) max = Math.max(max, Math.abs(v));
        if (max == 0) return;
        float g = peak / max;
        for (int i = 0; i < x.length; i++) x[i] *= g;
    }
}
