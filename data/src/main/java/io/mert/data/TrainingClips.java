package io.mert.data;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.IntUnaryOperator;

/**
 * Per-sample training source for the worker's loader: a manifest plus one label file per label
 * stream, served as random crops with frame-aligned labels: of one fixed length, or (built by
 * {@link #variable}, for fairseq's {@code max_tokens} batches) of any length a caller asks for up to
 * each entry's {@link #sizeOf size}.
 *
 * <p>Crops start on a multiple of the model's frame stride, so label {@code j} of the crop is label
 * {@code start/stride + j} of the file. The start is drawn from {@code (seed, index)} only, so every
 * worker computes the same crop for the same sample. Starts are limited to positions where both the
 * audio and every label stream cover the whole crop.
 *
 * <p>At construction every entry is checked: label line count equals the manifest, and for each
 * stream {@code |numSamples/sampleRate - labels/labelRate| < 0.1 s} (fairseq hubert_dataset's
 * tolerance), otherwise an {@link IOException} names the audio file, the label file and the line.
 * Entries shorter than the (shortest) crop are <b>skipped</b> (MERT does not pad: {@code pad_audio} false), with
 * the reason logged and kept in {@link #skipped()}; {@link #size()} and the indices passed to
 * {@link #clip} count the usable entries only ({@link #entryIndex} maps back to the manifest).
 *
 * <p>Audio is read lazily, when a clip is first cropped: a file that is damaged on disk is found then
 * ({@link UnreadableAudioException}), possibly in the middle of a run, and the caller decides whether
 * to skip it ({@link ReadableClips}) or stop. Labels, in contrast, are all read and checked here.
 *
 * <p>Thread-safe. Decoded audio is cached in memory when the whole manifest fits in
 * {@code cacheBytes} (as float32), filled as clips are first read; otherwise each clip is read from disk.
 */
public final class TrainingClips {
    private static final Logger LOG = LoggerFactory.getLogger(TrainingClips.class);
    /** fairseq hubert_dataset: labels and audio may differ by less than this much (seconds). */
    public static final double LENGTH_TOLERANCE_SECONDS = 0.1;

    private final Manifest manifest;
    private final int cropSamples;     // the longest crop (task.max_sample_size)
    private final int cropFrames;
    private final int shortestCrop;    // the shortest crop (= cropSamples for fixed crops)
    private final IntUnaryOperator framesFor;
    private final int stride;
    private final int sampleRate;
    private final List<List<int[]>> labels; // [stream][entry]
    private final int[] usable;             // usable index -> manifest entry
    private final int[] sizes;              // per usable index: the longest crop it gives (<= cropSamples)
    private final int[] labelFrames;        // per usable index: labels of its shortest stream
    private final List<Skipped> skipped;
    private final ConcurrentHashMap<Integer, float[]> cache;

    /** A crop: {@code waveform} has the crop's samples, {@code labels[s]} its frames' labels for stream s. */
    public record Clip(int index, int entry, String path, int startSample, float[] waveform, int[][] labels) {}

    /** An entry that cannot give a full crop. */
    public record Skipped(int entry, String path, String reason) {}

    /** MERT framing (24 kHz, stride 320, 75 Hz labels) and a 1 GiB audio cache. */
    public TrainingClips(Manifest manifest, List<Path> labelFiles, int cropSamples, int cropFrames) throws IOException {
        this(manifest, labelFiles, cropSamples, cropFrames, 320, 24000, 1L << 30);
    }

    /**
     * @param labelFiles  one HuBERT label file per stream, lines in manifest order
     * @param cropSamples samples per crop
     * @param cropFrames  model frames for a crop of cropSamples (config.framesFor(cropSamples))
     * @param stride      samples per model frame (320)
     * @param sampleRate  audio rate (24000)
     * @param cacheBytes  cache decoded audio when the manifest's audio fits in this many bytes
     */
    public TrainingClips(Manifest manifest, List<Path> labelFiles, int cropSamples, int cropFrames, int stride,
                         int sampleRate, long cacheBytes) throws IOException {
        this(manifest, labelFiles, null, cropSamples, cropFrames, stride, sampleRate, cacheBytes);
    }

    /**
     * MERT framing and a 1 GiB cache, with every label checked against its stream's class count (from
     * {@code dict.<label>.txt}): a label outside [0, classes) is an {@link IOException} naming the file,
     * line and token instead of an out-of-range target in the loss.
     */
    public TrainingClips(Manifest manifest, List<Path> labelFiles, List<Integer> classes, int cropSamples, int cropFrames)
            throws IOException {
        this(manifest, labelFiles, classes, cropSamples, cropFrames, 320, 24000, 1L << 30);
    }

    /** As above; {@code classes} (one per label file) may be null to skip the label range check. */
    public TrainingClips(Manifest manifest, List<Path> labelFiles, List<Integer> classes, int cropSamples, int cropFrames,
                         int stride, int sampleRate, long cacheBytes) throws IOException {
        this(manifest, labelFiles, classes, cropSamples, cropSamples, fixedFrames(cropSamples, cropFrames), stride, sampleRate,
                cacheBytes);
        if ((long) cropFrames * stride > cropSamples + stride)
            throw new IllegalArgumentException(cropFrames + " frames of " + stride + " samples do not fit a crop of " + cropSamples);
    }

    /**
     * Clips for variable-length crops (fairseq's {@code max_tokens} batching): an entry is usable when it
     * gives a crop of at least {@code shortestCrop} samples; its {@link #sizeOf size} is the longest crop it
     * gives, at most {@code longestCrop} and limited by its audio and by its labels (a crop of L samples
     * needs {@code framesFor(L)} labels in every stream).
     *
     * @param shortestCrop entries shorter than this are skipped ({@code task.min_sample_size})
     * @param longestCrop  {@code task.max_sample_size}
     * @param framesFor    model frames of a crop of L samples
     */
    public static TrainingClips variable(Manifest manifest, List<Path> labelFiles, List<Integer> classes, int shortestCrop,
                                         int longestCrop, IntUnaryOperator framesFor, int stride, int sampleRate,
                                         long cacheBytes) throws IOException {
        if (shortestCrop > longestCrop)
            throw new IllegalArgumentException("shortest crop " + shortestCrop + " > longest crop " + longestCrop);
        return new TrainingClips(manifest, labelFiles, classes, Math.max(1, shortestCrop), longestCrop, framesFor, stride,
                sampleRate, cacheBytes);
    }

    private static IntUnaryOperator fixedFrames(int cropSamples, int cropFrames) {
        return n -> {
            if (n != cropSamples) throw new IllegalArgumentException("these clips are cut to " + cropSamples + " samples only, not " + n);
            return cropFrames;
        };
    }

    private TrainingClips(Manifest manifest, List<Path> labelFiles, List<Integer> classes, int shortestCrop, int cropSamples,
                          IntUnaryOperator framesFor, int stride, int sampleRate, long cacheBytes) throws IOException {
        int cropFrames = framesFor.applyAsInt(cropSamples);
        if (classes != null && classes.size() != labelFiles.size())
            throw new IllegalArgumentException(classes.size() + " class counts for " + labelFiles.size() + " label files");
        if (cropSamples <= 0 || cropFrames <= 0 || stride <= 0 || sampleRate <= 0)
            throw new IllegalArgumentException("crop samples/frames, stride and sample rate must be positive");
        if (labelFiles.isEmpty()) throw new IllegalArgumentException("at least one label file is needed");
        this.manifest = manifest;
        this.cropSamples = cropSamples;
        this.cropFrames = cropFrames;
        this.shortestCrop = shortestCrop;
        this.framesFor = framesFor;
        this.stride = stride;
        this.sampleRate = sampleRate;
        double labelRate = (double) sampleRate / stride;
        labels = new ArrayList<>();
        for (int s = 0; s < labelFiles.size(); s++) {
            Path f = labelFiles.get(s);
            List<int[]> rows = LabelFile.read(f, classes == null ? Integer.MAX_VALUE : classes.get(s));
            if (rows.size() != manifest.size())
                throw new IOException(f + ": " + rows.size() + " label lines but the manifest has " + manifest.size()
                        + " entries (labels must be one line per manifest entry, in order)");
            for (int i = 0; i < rows.size(); i++) {
                double audio = manifest.entry(i).numSamples() / (double) sampleRate;
                double lab = rows.get(i).length / labelRate;
                if (Math.abs(audio - lab) >= LENGTH_TOLERANCE_SECONDS)
                    throw new IOException(manifest.resolve(i) + ": audio is " + String.format("%.3f", audio) + " s but "
                            + f + " line " + (i + 1) + " has " + rows.get(i).length + " labels = "
                            + String.format("%.3f", lab) + " s at " + labelRate + " Hz (tolerance "
                            + LENGTH_TOLERANCE_SECONDS + " s)");
            }
            labels.add(rows);
        }
        boolean fixed = shortestCrop == cropSamples;
        List<Integer> ok = new ArrayList<>();
        List<Integer> size = new ArrayList<>();
        List<Integer> labelMin = new ArrayList<>();
        List<Skipped> skip = new ArrayList<>();
        for (int i = 0; i < manifest.size(); i++) {
            long n = manifest.entry(i).numSamples();
            if (n < shortestCrop) {
                skip.add(new Skipped(i, manifest.entry(i).path(), fixed
                        ? "shorter than the crop: " + n + " < " + cropSamples + " samples"
                        : "shorter than the shortest crop: " + n + " < " + shortestCrop
                          + " samples (task.min_sample_size, or one mask span plus one frame)"));
                continue;
            }
            int lab = Integer.MAX_VALUE;
            for (List<int[]> stream : labels) lab = Math.min(lab, stream.get(i).length);
            int longest = longestCrop((int) Math.min(n, cropSamples), lab);
            if (longest < shortestCrop) {
                skip.add(new Skipped(i, manifest.entry(i).path(), fixed
                        ? "labels too short for a crop of " + cropFrames + " frames"
                        : "labels too short (" + lab + " frames) for a crop of " + shortestCrop + " samples"));
                continue;
            }
            ok.add(i);
            size.add(longest);
            labelMin.add(lab);
        }
        usable = ok.stream().mapToInt(Integer::intValue).toArray();
        sizes = size.stream().mapToInt(Integer::intValue).toArray();
        labelFrames = labelMin.stream().mapToInt(Integer::intValue).toArray();
        skipped = List.copyOf(skip);
        for (Skipped s : skipped) LOG.warn("skipping {}: {}", s.path(), s.reason());
        boolean fits = manifest.totalSamples() <= cacheBytes / Float.BYTES; // no overflow for huge manifests
        cache = fits ? new ConcurrentHashMap<>() : null;
        if (fixed)
            LOG.info("training clips: {} of {} entries usable, crops of {} samples / {} frames, audio cache {}",
                    usable.length, manifest.size(), cropSamples, cropFrames, fits ? "on" : "off");
        else
            LOG.info("training clips: {} of {} entries usable, crops of {} to {} samples, audio cache {}",
                    usable.length, manifest.size(), shortestCrop, cropSamples, fits ? "on" : "off");
    }

    /** The longest crop of at most {@code upTo} samples (and at least shortestCrop) whose frames have labels, or -1. */
    private int longestCrop(int upTo, int labels) {
        int lo = shortestCrop, hi = upTo;
        if (hi < lo || framesFor.applyAsInt(lo) > labels) return -1;
        while (lo < hi) { // framesFor is non-decreasing: the largest L in [lo, hi] with framesFor(L) <= labels
            int mid = lo + (hi - lo + 1) / 2;
            if (framesFor.applyAsInt(mid) <= labels) lo = mid;
            else hi = mid - 1;
        }
        return lo;
    }

    /** Usable entries. */
    public int size() { return usable.length; }

    /** Manifest entry of usable index i. */
    public int entryIndex(int i) { return usable[i]; }

    /** Path (as the manifest spells it) of usable index i. */
    public String path(int i) { return manifest.entry(usable[i]).path(); }

    public List<Skipped> skipped() { return skipped; }

    public int streams() { return labels.size(); }

    /** The longest crop (task.max_sample_size); every crop of fixed-crop clips. */
    public int cropSamples() { return cropSamples; }

    /** The shortest crop a usable entry gives. */
    public int shortestCrop() { return shortestCrop; }

    /** The longest crop usable index i gives: its size for batching (fairseq's {@code size(i)} with pad_audio false). */
    public int sizeOf(int i) { return sizes[i]; }

    /** Audio samples of usable index i as the manifest gives them (fairseq orders batches by these). */
    public long lengthOf(int i) { return manifest.entry(usable[i]).numSamples(); }

    /** Model frames of a crop of {@code samples}. */
    public int framesFor(int samples) { return framesFor.applyAsInt(samples); }

    public int cropFrames() { return cropFrames; }

    /**
     * The crop for usable index {@code index}; the same (seed, index) always gives the same crop.
     *
     * @throws UnreadableAudioException when the entry's audio cannot be read or no longer matches the
     *                                  manifest (found here, at the first read, not at construction)
     */
    public Clip clip(int index, long seed) {
        return clip(index, seed, cropSamples);
    }

    /**
     * The crop of {@code samples} for usable index {@code index} (at most {@link #sizeOf}{@code (index)}),
     * with {@link #framesFor}{@code (samples)} labels per stream; the same (seed, index, samples) always
     * gives the same crop.
     *
     * @throws UnreadableAudioException as {@link #clip(int, long)}
     */
    public Clip clip(int index, long seed, int samples) {
        if (index < 0 || index >= usable.length)
            throw new IndexOutOfBoundsException("clip index " + index + " outside [0, " + usable.length + ")");
        if (samples < shortestCrop || samples > sizes[index])
            throw new IllegalArgumentException("a crop of " + samples + " samples from " + path(index) + ", which gives crops of "
                    + shortestCrop + " to " + sizes[index] + " samples");
        int entry = usable[index];
        int frames = framesFor.applyAsInt(samples);
        int maxStartFrame = (int) Math.min((manifest.entry(entry).numSamples() - samples) / stride, labelFrames[index] - frames);
        SplittableRandom rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ (index + 0x632BE59BD9B4E019L));
        int startFrame = rnd.nextInt(maxStartFrame + 1);
        int start = startFrame * stride;
        float[] audio;
        try {
            audio = audio(entry);
        } catch (UncheckedIOException e) {
            throw new UnreadableAudioException(index, manifest.entry(entry).path(), e.getCause());
        }
        float[] wave = Arrays.copyOfRange(audio, start, start + samples);
        int[][] lab = new int[labels.size()][];
        for (int s = 0; s < lab.length; s++)
            lab[s] = Arrays.copyOfRange(labels.get(s).get(entry), startFrame, startFrame + frames);
        return new Clip(index, entry, manifest.entry(entry).path(), start, wave, lab);
    }

    private float[] audio(int entry) {
        if (cache == null) return load(entry);
        return cache.computeIfAbsent(entry, this::load);
    }

    private float[] load(int entry) {
        Path file = manifest.resolve(entry);
        try {
            WavFile.Audio a = WavFile.readMono(file);
            if (a.sampleRate() != sampleRate)
                throw new IOException(file + ": sample rate " + a.sampleRate() + " Hz, expected " + sampleRate + " Hz");
            if (a.samples().length != manifest.entry(entry).numSamples())
                throw new IOException(file + ": has " + a.samples().length + " samples but the manifest says "
                        + manifest.entry(entry).numSamples());
            return a.samples();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
