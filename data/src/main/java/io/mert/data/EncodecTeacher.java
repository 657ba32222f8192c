package io.mert.data;

import io.mert.model.checkpoint.AtomicFiles;
import io.mert.model.encodec.EncodecEncoder;
import io.mert.model.encodec.EncodecWeights;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.IntStream;

/**
 * {@code mert prepare-labels --teacher encodec}: MERT's acoustic teacher. Every manifest entry is
 * encoded whole by EnCodec 24 kHz ({@link EncodecEncoder}, weights from HuggingFace's
 * {@code facebook/encodec_24khz}) at 6 kbps, i.e. the first 8 codebooks of 1024 codes, 75 frames per
 * second ({@code ceil(samples / 320)} per file), as MERT's {@code prepare_codecs_from_manifest.py}
 * does. Writes one HuBERT label stream per codebook: {@code <split>.<prefix>_<q>} (one line per
 * manifest entry, in manifest order) and {@code dict.<prefix>_<q>.txt} (1024 classes), so
 * {@code task.labels: [encodec_0, ..., encodec_7]} trains one prediction head per codebook.
 *
 * <p>Files are encoded in parallel ({@code threads}); lines are written in manifest order as batches
 * finish, to temporary files renamed into place at the end, so memory does not grow with the corpus
 * and a failed run leaves no half-written label file.
 *
 * <p>Resumable: each encoded file's codes are also saved at once under
 * {@code <out>/.encodec-work/<split>/} ({@link EncodecWorkDir}), keyed by the weights, the options and
 * the manifest entry, so a rerun after a kill or crash reuses them and encodes only the rest. The work
 * directory of a split is removed once its label files are in place, unless {@code keepWork}.
 */
public final class EncodecTeacher {
    private static final Logger LOG = LoggerFactory.getLogger(EncodecTeacher.class);
    /** MERT's run_training.sh names the streams encodec_0 ... encodec_7. */
    public static final String DEFAULT_PREFIX = "encodec";
    public static final int DEFAULT_CODEBOOKS = 8;

    private EncodecTeacher() {}

    /**
     * @param manifestDir directory holding {@code <split>.tsv}
     * @param splits      splits to label
     * @param outDir      label directory
     * @param weights     EnCodec {@code model.safetensors}
     * @param prefix      label names are {@code <prefix>_0 ... <prefix>_<codebooks-1>}
     * @param codebooks   codebooks per frame (8 = EnCodec's 6 kbps)
     * @param threads     files encoded at once
     * @param keepWork    keep {@code <out>/.encodec-work} after a successful run (a later run with the
     *                    same weights and options then reuses every file)
     */
    public record Options(Path manifestDir, List<String> splits, Path outDir, Path weights, String prefix, int codebooks,
                          int threads, boolean keepWork) {
        public Options {
            splits = List.copyOf(splits);
            if (splits.isEmpty()) throw new IllegalArgumentException("at least one split is needed");
            if (!prefix.matches("[A-Za-z0-9_\\-]+"))
                throw new IllegalArgumentException("label name '" + prefix + "' must be letters, digits, '_' or '-'");
            if (codebooks < 1) throw new IllegalArgumentException("codebooks must be at least 1, got " + codebooks);
            if (threads < 1) throw new IllegalArgumentException("threads must be at least 1, got " + threads);
        }

        /** train, and valid when valid.tsv exists; labels encodec_0..7; one thread per core. */
        public static Options defaults(Path manifestDir, Path outDir, Path weights) {
            List<String> splits = Files.exists(manifestDir.resolve("valid.tsv")) ? List.of("train", "valid") : List.of("train");
            return new Options(manifestDir, splits, outDir, weights, DEFAULT_PREFIX, DEFAULT_CODEBOOKS,
                    Runtime.getRuntime().availableProcessors(), false);
        }

        public List<String> labelNames() {
            List<String> names = new ArrayList<>();
            for (int q = 0; q < codebooks; q++) names.add(prefix + "_" + q);
            return names;
        }
    }

    /**
     * What was written and how long it took. {@code encoded} files were run through EnCodec, {@code reused}
     * ones were taken from the work directory of an earlier, interrupted run ({@code files} = both).
     */
    public record Result(List<String> labelNames, Map<String, List<Path>> labelFiles, long files, long frames,
                         double audioSeconds, double wallSeconds, long encoded, long reused, double encodedAudioSeconds,
                         Path workDir) {}

    public static Result run(Options o) throws IOException {
        return run(o, ProgressListener.NONE);
    }

    /** As {@link #run(Options)}, telling {@code progress} after each file ("encode SPLIT"; reused files count). */
    public static Result run(Options o, ProgressListener progress) throws IOException {
        long start = System.nanoTime();
        EncodecEncoder encoder = EncodecWeights.load(o.weights());
        if (o.codebooks() > encoder.availableCodebooks()) {
            throw new IllegalArgumentException(o.codebooks() + " codebooks asked; " + o.weights() + " holds "
                    + encoder.availableCodebooks());
        }
        Files.createDirectories(o.outDir());
        String weightsDigest = Sha256.ofFile(o.weights());
        Path workRoot = o.outDir().resolve(EncodecWorkDir.NAME);
        Map<String, List<Path>> written = new LinkedHashMap<>();
        long files = 0, frames = 0, samples = 0;
        Counts counts = new Counts();
        ForkJoinPool pool = new ForkJoinPool(o.threads());
        try {
            for (String split : o.splits()) {
                Manifest m = Manifest.read(o.manifestDir().resolve(split + ".tsv"));
                List<Path> targets = new ArrayList<>();
                for (String name : o.labelNames()) targets.add(o.outDir().resolve(split + "." + name));
                EncodecWorkDir work = new EncodecWorkDir(workRoot.resolve(split), weightsDigest, o.codebooks(), encoder.hop());
                long reusedBefore = counts.reused.get();
                long[] sums = writeSplit(m, encoder, o, pool, targets, work, counts, progress, "encode " + split);
                written.put(split, targets);
                files += m.size();
                frames += sums[0];
                samples += sums[1];
                LOG.info("EnCodec labels: {} files of {} -> {}.{}_* ({} reused from {})", m.size(), split, split, o.prefix(),
                        counts.reused.get() - reusedBefore, workRoot.resolve(split));
                if (!o.keepWork()) AtomicFiles.deleteRecursively(workRoot.resolve(split));
            }
        } finally {
            pool.shutdownNow();
        }
        for (String name : o.labelNames()) {
            LabelFile.writeDictionary(o.outDir().resolve("dict." + name + ".txt"), encoder.codebookSize());
        }
        if (!o.keepWork()) deleteIfEmpty(workRoot);
        return new Result(o.labelNames(), written, files, frames, samples / 24000.0, (System.nanoTime() - start) / 1e9,
                counts.encoded.get(), counts.reused.get(), counts.encodedSamples.get() / 24000.0, workRoot);
    }

    /** Files run through EnCodec and files taken from the work directory, and the progress count of the current split. */
    private static final class Counts {
        final AtomicLong encoded = new AtomicLong();
        final AtomicLong reused = new AtomicLong();
        final AtomicLong encodedSamples = new AtomicLong();
        long done;
    }

    private static void deleteIfEmpty(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) return;
        try (var entries = Files.list(dir)) {
            if (entries.findAny().isPresent()) return;
        }
        Files.deleteIfExists(dir);
    }

    /** Encodes a split batch by batch in parallel, appending lines in manifest order; returns {frames, samples}. */
    private static long[] writeSplit(Manifest m, EncodecEncoder encoder, Options o, ForkJoinPool pool, List<Path> targets,
                                     EncodecWorkDir work, Counts counts, ProgressListener progress, String phase) throws IOException {
        List<Path> temps = new ArrayList<>();
        List<OutputStream> outs = new ArrayList<>();
        long frames = 0, samples = 0;
        boolean done = false;
        try {
            for (Path t : targets) {
                Path tmp = t.resolveSibling("." + t.getFileName() + ".tmp-" + ProcessHandle.current().pid());
                temps.add(tmp);
                outs.add(new java.io.BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16));
            }
            int batch = 4 * o.threads();
            synchronized (counts) {
                counts.done = 0;
            }
            progress.progress(phase, 0, m.size());
            for (int b0 = 0; b0 < m.size(); b0 += batch) {
                int b1 = Math.min(m.size(), b0 + batch);
                int first = b0;
                int[][][] codes;
                try {
                    codes = pool.submit(() -> IntStream.range(first, b1).parallel()
                            .mapToObj(i -> codesOf(m, i, encoder, o.codebooks(), work, counts, progress, phase))
                            .toArray(int[][][]::new)).get();
                } catch (ExecutionException e) {
                    Throwable c = e.getCause() instanceof UncheckedIOException u ? u.getCause() : e.getCause();
                    if (c instanceof IOException io) throw io;
                    if (c instanceof RuntimeException r) throw r;
                    throw new IOException(c);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted while encoding " + m.resolve(first), e);
                }
                for (int i = b0; i < b1; i++) {
                    int[][] c = codes[i - b0];
                    for (int q = 0; q < c.length; q++) outs.get(q).write(line(c[q]));
                    frames += c[0].length;
                    samples += m.entry(i).numSamples();
                }
            }
            for (int q = 0; q < outs.size(); q++) {
                outs.get(q).close();
                try (var ch = java.nio.channels.FileChannel.open(temps.get(q), java.nio.file.StandardOpenOption.WRITE)) {
                    ch.force(true);
                }
            }
            for (int q = 0; q < targets.size(); q++) AtomicFiles.moveAtomically(temps.get(q), targets.get(q));
            AtomicFiles.fsyncDirectory(o.outDir().toAbsolutePath());
            done = true;
            return new long[] {frames, samples};
        } finally {
            if (!done) {
                for (OutputStream out : outs) {
                    try {
                        out.close();
                    } catch (IOException ignored) {
                        // the temporary file is deleted next
                    }
                }
                for (Path t : temps) Files.deleteIfExists(t);
            }
        }
    }

    /**
     * Test hook: after this many files are encoded and saved, the encoding thread stops for good, so a
     * test can kill a real {@code mert prepare-labels} process at a known point. Unset in real runs.
     */
    static final String STALL_AFTER_PROPERTY = "mert.test.encodec.stallAfterFiles";
    private static final long STALL_AFTER = Long.getLong(STALL_AFTER_PROPERTY, Long.MAX_VALUE);

    /** Entry {@code i}'s codes: from the work directory when an earlier run saved them, else encoded and saved. */
    private static int[][] codesOf(Manifest m, int i, EncodecEncoder encoder, int codebooks, EncodecWorkDir work, Counts counts,
                                   ProgressListener progress, String phase) {
        try {
            Path file = m.resolve(i);
            long samples = m.entry(i).numSamples();
            byte[] key = work.key(file, samples);
            int[][] codes = work.load(key, samples, file.toString());
            if (codes != null) {
                counts.reused.incrementAndGet();
            } else {
                codes = encodeEntry(m, i, encoder, codebooks);
                work.save(key, codes);
                counts.encodedSamples.addAndGet(samples);
                if (counts.encoded.incrementAndGet() >= STALL_AFTER) stallForever();
            }
            synchronized (counts) {
                progress.progress(phase, ++counts.done, m.size());
            }
            return codes;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void stallForever() {
        LOG.warn("{} reached: encoding stops here until the process is killed", STALL_AFTER_PROPERTY);
        while (true) {
            try {
                Thread.sleep(60_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("stalled by " + STALL_AFTER_PROPERTY);
            }
        }
    }

    private static int[][] encodeEntry(Manifest m, int i, EncodecEncoder encoder, int codebooks) throws IOException {
        Path file = m.resolve(i);
        WavFile.Audio a = WavFile.readMono(file);
        if (a.sampleRate() != 24000)
            throw new IOException(file + ": sample rate " + a.sampleRate() + " Hz, the EnCodec teacher needs 24000 Hz (run prepare-manifest)");
        if (a.samples().length != m.entry(i).numSamples())
            throw new IOException(file + ": has " + a.samples().length + " samples but the manifest says " + m.entry(i).numSamples());
        if (a.samples().length == 0) throw new IOException(file + ": no samples");
        return encoder.codes(a.samples(), codebooks);
    }

    private static byte[] line(int[] tokens) {
        StringBuilder sb = new StringBuilder(tokens.length * 4 + 1);
        for (int j = 0; j < tokens.length; j++) {
            if (j > 0) sb.append(' ');
            sb.append(tokens[j]);
        }
        return sb.append('\n').toString().getBytes(StandardCharsets.US_ASCII);
    }
}
