package io.mert.data;

import io.mert.data.audio.AudioDecoders;
import io.mert.data.audio.AudioFormat;
import io.mert.data.audio.AudioFormatException;
import io.mert.data.audio.DecodedAudio;
import io.mert.data.audio.UnsupportedAudioFeatureException;
import io.mert.model.checkpoint.AtomicFiles;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;

/**
 * {@code mert prepare-manifest}: the job of MERT's {@code scripts/prepare_manifest.py}. Scans the
 * root for audio files, converts every readable one to mono WAV at the target rate under the
 * converted root (same relative path, extension {@code .wav}; originals are never written), and
 * writes {@code train.tsv} / {@code valid.tsv} whose first line is the converted root, plus
 * {@code skipped.tsv} listing each file left out and why.
 *
 * <p>Sources may be WAV, FLAC, Ogg Vorbis, MP3, Ogg Opus or AAC (M4A/ADTS), and with ffmpeg installed
 * anything ffmpeg reads ({@link AudioDecoders}; the decoder is chosen by the file's content, the
 * extension only selects which files to pick up). A file that needs ffmpeg when it is missing is
 * skipped as "unsupported", with what to install. Multichannel audio is averaged
 * to mono. A file that cannot be read or decoded is listed in {@code skipped.tsv} with the reason and
 * logged; it never stops the run.
 *
 * <p>Differences from the Python script, on purpose: the manifest root is always the converted
 * root (the script writes the original root even for converted files), every file is converted
 * (also when only the channel count differs), and the validation split takes exactly
 * {@code round(validFraction * n)} files (at least one when the fraction is positive and there are
 * two files or more) chosen by a seeded shuffle, instead of an independent coin flip per file,
 * so small corpora still get a validation set. Reruns skip files whose converted copy is newer
 * than the source and already at the target rate.
 */
public final class ManifestBuilder {
    private static final Logger LOG = LoggerFactory.getLogger(ManifestBuilder.class);

    private ManifestBuilder() {}

    /**
     * @param rootDir          directory with the original audio (searched recursively)
     * @param convertedRootDir where the converted copies go; must not be the root or one of its ancestors
     * @param outDir           where train.tsv, valid.tsv and skipped.tsv are written
     * @param targetRate       sample rate of the converted copies (24000 for MERT)
     * @param extensions       file extensions to pick up, case-insensitive, leading dot optional; each one of
     *                         {@link AudioFormat#knownExtensions()} (an element may itself be a comma list, e.g. "wav,flac")
     * @param validFraction    share of files for valid.tsv, in [0, 1]
     * @param seed             seed of the split (MERT's default is 1317)
     * @param minSeconds       files shorter than this (after conversion) are skipped as too short
     */
    public record Options(Path rootDir, Path convertedRootDir, Path outDir, int targetRate, List<String> extensions,
                          double validFraction, long seed, double minSeconds) {
        public Options {
            extensions = normalizeExtensions(extensions);
            if (targetRate <= 0) throw new IllegalArgumentException("target rate must be positive, got " + targetRate);
            if (!(validFraction >= 0 && validFraction <= 1))
                throw new IllegalArgumentException("valid fraction must be in [0, 1], got " + validFraction);
            if (extensions.isEmpty()) throw new IllegalArgumentException("at least one extension is needed");
            if (minSeconds < 0) throw new IllegalArgumentException("min seconds must not be negative, got " + minSeconds);
        }

        private static List<String> normalizeExtensions(List<String> given) {
            List<String> out = new ArrayList<>();
            for (String item : given)
                for (String part : item.split(",")) {
                    String e = part.strip();
                    if (e.isEmpty()) continue;
                    String known = AudioFormat.knownExtension(e);
                    if (known == null)
                        throw new IllegalArgumentException("unsupported extension '" + e + "'; supported: "
                                + String.join(", ", AudioFormat.knownExtensions()) + " (" + String.join(", ", AudioFormat.FFMPEG_EXTENSIONS)
                                + " through ffmpeg)");
                    if (!out.contains(known)) out.add(known);
                }
            return List.copyOf(out);
        }

        /** MERT's defaults: 24 kHz, wav, 0.1% validation, seed 1317, 3 s minimum (fairseq's min_sample_size 72000). */
        public static Options defaults(Path rootDir, Path convertedRootDir, Path outDir) {
            return new Options(rootDir, convertedRootDir, outDir, 24000, List.of("wav"), 0.001, 1317, 3.0);
        }

        public Options withValidFraction(double f) {
            return new Options(rootDir, convertedRootDir, outDir, targetRate, extensions, f, seed, minSeconds);
        }

        public Options withSeed(long s) {
            return new Options(rootDir, convertedRootDir, outDir, targetRate, extensions, validFraction, s, minSeconds);
        }

        public Options withMinSeconds(double s) {
            return new Options(rootDir, convertedRootDir, outDir, targetRate, extensions, validFraction, seed, s);
        }
    }

    /** A file left out of the manifests. */
    public record Skipped(String path, String reason) {}

    /** What the run produced. */
    public record Result(Manifest train, Manifest valid, List<Skipped> skipped, int converted, int reused) {}

    public static Result build(Options o) throws IOException {
        return build(o, ProgressListener.NONE);
    }

    /** As {@link #build(Options)}, telling {@code progress} after each source file ("convert"). */
    public static Result build(Options o, ProgressListener progress) throws IOException {
        Path root = o.rootDir().toAbsolutePath().normalize();
        Path conv = o.convertedRootDir().toAbsolutePath().normalize();
        if (!Files.isDirectory(root)) throw new IOException("root dir " + root + " does not exist or is not a directory");
        if (root.startsWith(conv))
            throw new IllegalArgumentException("converted root " + conv + " must not be the root " + root
                    + " or contain it: converting could overwrite originals");
        List<Path> sources;
        try (Stream<Path> s = Files.walk(root)) {
            sources = s.filter(Files::isRegularFile)
                    .filter(p -> !p.startsWith(conv))
                    .filter(p -> hasExtension(p, o.extensions()))
                    .sorted(Comparator.comparing(p -> relative(root, p)))
                    .toList();
        }
        List<Manifest.Entry> good = new ArrayList<>();
        Set<String> taken = new HashSet<>();
        List<Skipped> skipped = new ArrayList<>();
        int converted = 0, reused = 0;
        long minSamples = (long) Math.ceil(o.minSeconds() * o.targetRate());
        for (int i = 0; i < sources.size(); i++) {
            progress.progress("convert", i, sources.size());
            Path src = sources.get(i);
            String rel = relative(root, src);
            String outRel = withWavExtension(rel);
            Path dst = conv.resolve(outRel);
            if (taken.contains(outRel)) {
                skipped.add(new Skipped(rel, "duplicate: another file already converts to " + outRel));
                continue;
            }
            long samples;
            WavFile.Info done = upToDate(src, dst, o.targetRate());
            if (done != null) {
                samples = done.frames();
                reused++;
            } else {
                DecodedAudio a;
                try {
                    a = AudioDecoders.decode(src);
                } catch (UnsupportedAudioFeatureException e) {
                    skipped.add(new Skipped(rel, "unsupported: " + e.getMessage()));
                    continue;
                } catch (AudioFormatException e) {
                    skipped.add(new Skipped(rel, "corrupt: " + e.getMessage()));
                    continue;
                } catch (IOException e) {
                    skipped.add(new Skipped(rel, "unreadable: " + e));
                    continue;
                }
                if (a.frames() == 0) {
                    skipped.add(new Skipped(rel, "empty: no audio samples"));
                    continue;
                }
                float[] mono = a.mono();
                float[] x = a.sampleRate() == o.targetRate() ? mono : Resampler.resample(mono, a.sampleRate(), o.targetRate());
                if (x.length >= minSamples) {
                    // 16-bit output is lossless for sources of 16 bits or fewer; anything finer stays float
                    boolean lowRes = a.bitsPerSample() > 0 && a.bitsPerSample() <= 16;
                    WavFile.writeMono(dst, x, o.targetRate(), lowRes ? WavFile.Encoding.PCM_16 : WavFile.Encoding.FLOAT_32);
                    converted++;
                }
                samples = x.length;
            }
            if (samples < minSamples) {
                skipped.add(new Skipped(rel, String.format(Locale.ROOT, "too short: %.3f s < %.3f s",
                        samples / (double) o.targetRate(), o.minSeconds())));
                continue;
            }
            good.add(new Manifest.Entry(outRel, samples));
            taken.add(outRel);
        }
        progress.progress("convert", sources.size(), sources.size());

        List<Manifest.Entry> shuffled = new ArrayList<>(good);
        Collections.shuffle(shuffled, new Random(o.seed()));
        int nValid = (int) Math.round(o.validFraction() * good.size());
        if (o.validFraction() > 0 && nValid == 0 && good.size() >= 2) nValid = 1;
        if (nValid >= good.size() && good.size() > 0 && o.validFraction() < 1) nValid = good.size() - 1;
        List<Manifest.Entry> valid = new ArrayList<>(shuffled.subList(0, nValid));
        List<Manifest.Entry> train = new ArrayList<>(shuffled.subList(nValid, shuffled.size()));
        Comparator<Manifest.Entry> byPath = Comparator.comparing(Manifest.Entry::path);
        valid.sort(byPath);
        train.sort(byPath);

        Manifest trainM = new Manifest(conv, train);
        Manifest validM = new Manifest(conv, valid);
        Files.createDirectories(o.outDir());
        trainM.write(o.outDir().resolve("train.tsv"));
        if (o.validFraction() > 0) validM.write(o.outDir().resolve("valid.tsv"));
        StringBuilder sk = new StringBuilder();
        for (Skipped s : skipped) sk.append(s.path()).append('\t').append(s.reason().replace('\t', ' ').replace('\n', ' ')).append('\n');
        AtomicFiles.writeString(o.outDir().resolve("skipped.tsv"), sk.toString());
        for (Skipped s : skipped) LOG.warn("skipped {}: {}", s.path(), s.reason());
        LOG.info("manifest: {} train, {} valid, {} skipped; {} converted, {} already converted",
                train.size(), valid.size(), skipped.size(), converted, reused);
        return new Result(trainM, validM, List.copyOf(skipped), converted, reused);
    }

    /** Header of the converted copy when it is newer than the source and at the target rate, else null. */
    private static WavFile.Info upToDate(Path src, Path dst, int rate) throws IOException {
        if (!Files.isRegularFile(dst)) return null;
        if (Files.getLastModifiedTime(dst).compareTo(Files.getLastModifiedTime(src)) < 0) return null;
        try {
            WavFile.Info info = WavFile.info(dst);
            return info.sampleRate() == rate && info.channels() == 1 ? info : null;
        } catch (WavFormatException e) {
            return null; // a damaged copy is simply redone
        }
    }

    private static boolean hasExtension(Path p, List<String> exts) {
        String name = p.getFileName().toString().toLowerCase(Locale.ROOT);
        for (String e : exts) {
            String ext = e.toLowerCase(Locale.ROOT);
            if (ext.startsWith(".")) ext = ext.substring(1);
            if (name.endsWith("." + ext)) return true;
        }
        return false;
    }

    private static String relative(Path root, Path p) {
        return root.relativize(p).toString().replace('\\', '/');
    }

    private static String withWavExtension(String rel) {
        int slash = rel.lastIndexOf('/');
        int dot = rel.lastIndexOf('.');
        return (dot > slash ? rel.substring(0, dot) : rel) + ".wav";
    }
}
