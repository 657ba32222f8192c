package io.mert.model.checkpoint;

import io.mert.model.ParameterLayout;
import io.mert.model.optim.FlatArrays;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The checkpoints of one run: {@code RUN/checkpoints/step-<9 digits>/} with {@code model.safetensors}
 * (HuggingFace key names = layout names), {@code optimizer.safetensors} ({@code exp_avg.<name>},
 * {@code exp_avg_sq.<name>}, optimizer step in the metadata), {@code trainer_state.json} and
 * {@code SHA256SUMS}; {@code RUN/checkpoints/LATEST} names the newest complete one.
 *
 * <p>A save is written into a hidden temporary directory, every file and the directory fsynced,
 * then renamed into place, so a crash leaves either the complete checkpoint or a temporary directory
 * that {@link #recoverInterruptedSaves()} (run by the next save and by resume) removes. Saving a step
 * that already has a checkpoint moves the old one aside first (Linux cannot rename a directory over a
 * non-empty one); a crash between the two renames leaves it aside, and recovery puts it back.
 * Checkpoints are deleted by renaming them to a temporary name first, so a crash mid-deletion never
 * leaves a half-deleted {@code step-} directory that looks like a damaged checkpoint.
 * One writer per run directory; not thread-safe.
 */
public final class CheckpointStore {

    public static final String CHECKPOINTS_DIR = "checkpoints";
    public static final String MODEL_FILE = "model.safetensors";
    public static final String OPTIMIZER_FILE = "optimizer.safetensors";
    public static final String STATE_FILE = "trainer_state.json";
    public static final String SUMS_FILE = "SHA256SUMS";
    public static final String LATEST_FILE = "LATEST";
    public static final String EXP_AVG_PREFIX = "exp_avg.";
    public static final String EXP_AVG_SQ_PREFIX = "exp_avg_sq.";
    public static final String OPTIMIZER_STEP_KEY = "optimizer_step";

    private static final Logger LOG = LoggerFactory.getLogger(CheckpointStore.class);
    /** 9 to 18 digits: every such number fits a long (a longer name is not ours and is ignored). */
    private static final Pattern STEP_DIR = Pattern.compile("step-(\\d{9,18})");
    private static final int MAX_LATEST_BYTES = 256;
    private static final String TMP_PREFIX = ".tmp-";
    /** A complete checkpoint moved aside while the same step is saved again. */
    private static final String DISPLACED_PREFIX = TMP_PREFIX + "old-";
    private static final Pattern DISPLACED = Pattern.compile(Pattern.quote(DISPLACED_PREFIX) + "(step-\\d{9,18})-[0-9a-f]+");
    /** A checkpoint being deleted (renamed first, so a crash mid-deletion leaves only a temporary). */
    private static final String DISCARDED_PREFIX = TMP_PREFIX + "deleted-";
    /** AtomicFiles' temporary for LATEST. */
    private static final String LATEST_TMP_PREFIX = "." + LATEST_FILE + ".tmp-";

    private final Path runDir;
    private final Path checkpointsDir;
    private final int keepLast;

    /** {@code keepLast} >= 1 checkpoints are kept; older ones are deleted after each save. */
    public CheckpointStore(Path runDir, int keepLast) {
        if (keepLast < 1) throw new IllegalArgumentException("keepLast must be >= 1, got " + keepLast);
        this.runDir = runDir;
        this.checkpointsDir = runDir.resolve(CHECKPOINTS_DIR);
        this.keepLast = keepLast;
    }

    public Path runDir() {
        return runDir;
    }

    public Path checkpointsDir() {
        return checkpointsDir;
    }

    public static String dirName(long step) {
        if (step < 0) throw new IllegalArgumentException("step must be >= 0, got " + step);
        return String.format("step-%09d", step);
    }

    /**
     * Writes a checkpoint for {@code step} and returns its directory. {@code state.step()} must equal
     * {@code step}. The buffers are read, not modified; do not change them while this runs.
     */
    public Path save(long step, ParameterLayout layout, INDArray params, INDArray expAvg, INDArray expAvgSq,
                     long optimizerStep, TrainerState state) throws IOException {
        if (state.step() != step) {
            throw new IllegalArgumentException("trainer state is for step " + state.step() + " but the checkpoint is for step " + step);
        }
        long n = layout.totalSize();
        FlatArrays.requireFlatFloat(params, n, "params");
        FlatArrays.requireFlatFloat(expAvg, n, "exp_avg");
        FlatArrays.requireFlatFloat(expAvgSq, n, "exp_avg_sq");
        Files.createDirectories(checkpointsDir);
        recoverInterruptedSaves();

        String name = dirName(step);
        Path tmp = checkpointsDir.resolve(TMP_PREFIX + name + "-" + Long.toHexString(ThreadLocalRandom.current().nextLong()));
        Path target = checkpointsDir.resolve(name);
        long started = System.nanoTime();
        try {
            Files.createDirectory(tmp);
            Map<String, String> sums = new LinkedHashMap<>();
            sums.put(MODEL_FILE, writeHashed(tmp.resolve(MODEL_FILE), ch ->
                    SafeTensors.write(ch, SafeTensors.sources(layout, params, ""), Map.of("format", "pt"))));
            List<SafeTensors.Source> moments = new ArrayList<>(SafeTensors.sources(layout, expAvg, EXP_AVG_PREFIX));
            moments.addAll(SafeTensors.sources(layout, expAvgSq, EXP_AVG_SQ_PREFIX));
            sums.put(OPTIMIZER_FILE, writeHashed(tmp.resolve(OPTIMIZER_FILE), ch ->
                    SafeTensors.write(ch, moments, Map.of("format", "pt", OPTIMIZER_STEP_KEY, Long.toString(optimizerStep)))));
            byte[] stateJson = state.toJson();
            sums.put(STATE_FILE, writeHashed(tmp.resolve(STATE_FILE), ch -> AtomicFiles.writeFully(ch, ByteBuffer.wrap(stateJson))));
            byte[] sumsText = Sha256Sums.format(sums);
            writeHashed(tmp.resolve(SUMS_FILE), ch -> AtomicFiles.writeFully(ch, ByteBuffer.wrap(sumsText)));
            AtomicFiles.fsyncDirectory(tmp);

            Path displaced = null;
            if (Files.exists(target)) {
                // Saving the same step again (after a recovery): keep the old one until the new one is in place.
                displaced = checkpointsDir.resolve(DISPLACED_PREFIX + name + "-" + Long.toHexString(ThreadLocalRandom.current().nextLong()));
                Files.move(target, displaced);
            }
            AtomicFiles.moveAtomically(tmp, target);
            AtomicFiles.fsyncDirectory(checkpointsDir);
            if (displaced != null) discard(displaced);
        } catch (IOException | RuntimeException e) {
            try {
                AtomicFiles.deleteRecursively(tmp);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        AtomicFiles.write(checkpointsDir.resolve(LATEST_FILE), (name + "\n").getBytes(StandardCharsets.UTF_8));
        LOG.info("saved checkpoint {} in {} ms", target, (System.nanoTime() - started) / 1_000_000);
        prune(step);
        return target;
    }

    @FunctionalInterface
    private interface StreamWriter {
        void write(WritableByteChannel out) throws IOException;
    }

    /** Writes a new file, hashing the bytes on their way out (no second read), fsyncs it, returns its SHA-256. */
    private static String writeHashed(Path file, StreamWriter writer) throws IOException {
        MessageDigest md = Sha256Sums.newDigest();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            writer.write(new DigestingChannel(ch, md));
            ch.force(true);
        }
        return Sha256Sums.hex(md);
    }

    /** Removes checkpoints newer than the one just saved (an abandoned timeline) and all but the last K. */
    private void prune(long savedStep) throws IOException {
        List<Path> all = listCheckpoints();
        List<Path> keep = new ArrayList<>();
        for (Path p : all) {
            long s = stepOf(p);
            if (s > savedStep) {
                LOG.warn("deleting checkpoint {}: it is newer than step {} just saved, from a timeline that was abandoned", p, savedStep);
                discard(p);
            } else {
                keep.add(p);
            }
        }
        for (int i = 0; i < keep.size() - keepLast; i++) {
            LOG.info("retention (keep last {}): deleting {}", keepLast, keep.get(i));
            discard(keep.get(i));
        }
    }

    /** Deletes a checkpoint directory: renamed to a temporary name first, then removed. */
    private void discard(Path dir) throws IOException {
        Path trash = checkpointsDir.resolve(DISCARDED_PREFIX + dir.getFileName() + "-"
                + Long.toHexString(ThreadLocalRandom.current().nextLong()));
        AtomicFiles.moveAtomically(dir, trash);
        AtomicFiles.deleteRecursively(trash);
    }

    /**
     * Cleans up after a save or deletion that a crash (SIGKILL, power loss) interrupted: a partial
     * checkpoint in a temporary directory is removed, a complete one that was moved aside to be
     * replaced by a new save of the same step is put back when the new one never arrived, and a
     * half-written LATEST temporary is removed. Returns one sentence per thing done (each also logged
     * at WARN), empty when the directory is clean. Run by every save and before a resume picks its
     * checkpoint; one writer per run directory.
     */
    public List<String> recoverInterruptedSaves() throws IOException {
        List<String> done = new ArrayList<>();
        if (!Files.isDirectory(checkpointsDir)) return done;
        List<Path> temporaries = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(checkpointsDir,
                p -> p.getFileName().toString().startsWith(TMP_PREFIX) || p.getFileName().toString().startsWith(LATEST_TMP_PREFIX))) {
            ds.forEach(temporaries::add);
        }
        temporaries.sort(Comparator.comparing(Path::toString));
        for (Path p : temporaries) { // moved-aside checkpoints first: they are restored, not deleted
            Matcher m = DISPLACED.matcher(p.getFileName().toString());
            if (!m.matches()) continue;
            Path original = checkpointsDir.resolve(m.group(1));
            if (!Files.exists(original)) {
                AtomicFiles.moveAtomically(p, original);
                done.add("restored " + original + ": a save of the same step was interrupted after moving it aside");
            }
        }
        for (Path p : temporaries) {
            if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) continue; // restored above
            String name = p.getFileName().toString();
            String what = name.startsWith(DISPLACED_PREFIX) ? "a checkpoint already replaced by its new save"
                    : name.startsWith(DISCARDED_PREFIX) ? "a checkpoint whose deletion was interrupted"
                    : name.startsWith(LATEST_TMP_PREFIX) ? "an unfinished update of " + LATEST_FILE
                    : "a partial checkpoint from an interrupted save";
            try {
                AtomicFiles.deleteRecursively(p);
            } catch (java.nio.file.NoSuchFileException gone) {
                continue; // removed meanwhile
            }
            done.add("removed " + p + ": " + what);
        }
        if (!done.isEmpty()) AtomicFiles.fsyncDirectory(checkpointsDir);
        done.forEach(line -> LOG.warn("checkpoint recovery: {}", line));
        return done;
    }

    /** Complete checkpoint directories (named step-NNNNNNNNN), oldest step first. Temporaries are ignored. */
    public List<Path> listCheckpoints() throws IOException {
        List<Path> out = new ArrayList<>();
        if (!Files.isDirectory(checkpointsDir)) return out;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(checkpointsDir)) {
            for (Path p : ds) {
                if (Files.isDirectory(p) && STEP_DIR.matcher(p.getFileName().toString()).matches()) out.add(p);
            }
        }
        out.sort(Comparator.comparingLong(CheckpointStore::stepOf));
        return out;
    }

    /** The directory LATEST names, if the file exists and is well formed. */
    public Optional<Path> latestPointer() throws IOException {
        Path latest = checkpointsDir.resolve(LATEST_FILE);
        if (!Files.isRegularFile(latest)) return Optional.empty();
        // LATEST is a hint: garbage in it (wrong encoding, a huge file) must not stop a resume.
        byte[] head;
        try (var in = Files.newInputStream(latest)) {
            head = in.readNBytes(MAX_LATEST_BYTES);
        }
        String name = new String(head, StandardCharsets.US_ASCII).strip();
        if (!STEP_DIR.matcher(name).matches()) {
            LOG.warn("{} holds '{}', not a checkpoint directory name; ignoring it", latest, name);
            return Optional.empty();
        }
        return Optional.of(checkpointsDir.resolve(name));
    }

    /**
     * The newest checkpoint that passes verification. Damaged or incomplete newer ones are skipped
     * with a WARN each; empty when there is none at all (a fresh run) or none is valid (ERROR logged).
     */
    public Optional<LoadedCheckpoint> loadLatestValid() throws IOException {
        List<Path> all = listCheckpoints();
        Optional<Path> pointer = latestPointer();
        int damaged = 0;
        for (int i = all.size() - 1; i >= 0; i--) {
            Path dir = all.get(i);
            try {
                LoadedCheckpoint c = load(dir);
                if (damaged > 0) {
                    LOG.warn("!!! RESUMING FROM AN OLDER CHECKPOINT {}: {} newer checkpoint(s) failed verification (see above); "
                            + "the steps after {} will be trained again", dir, damaged, c.step());
                } else if (pointer.isPresent() && !pointer.get().equals(dir)) {
                    LOG.info("{} names {} but {} is the newest complete checkpoint (crash between rename and LATEST update?)",
                            LATEST_FILE, pointer.get().getFileName(), dir.getFileName());
                }
                return Optional.of(c);
            } catch (IOException | RuntimeException e) {
                damaged++;
                LOG.warn("!!! CHECKPOINT {} IS DAMAGED OR INCOMPLETE and will not be used: {}. Falling back to the previous one.",
                        dir, e.getMessage());
            }
        }
        if (damaged > 0) LOG.error("none of the {} checkpoints in {} is valid", damaged, checkpointsDir);
        return Optional.empty();
    }

    /**
     * Verifies a checkpoint directory (SHA256SUMS covers all files and matches, headers and trainer
     * state parse, steps agree) and returns a handle to read its tensors.
     */
    public LoadedCheckpoint load(Path dir) throws IOException {
        Matcher m = STEP_DIR.matcher(dir.getFileName().toString());
        if (!m.matches()) throw new CheckpointFormatException(dir + " is not named step-<9 digits>");
        long step = Long.parseLong(m.group(1));
        Path sumsFile = dir.resolve(SUMS_FILE);
        if (!Files.isRegularFile(sumsFile)) throw new CheckpointFormatException(dir + " has no " + SUMS_FILE + ": incomplete checkpoint");
        Map<String, String> sums = Sha256Sums.parse(sumsFile);
        for (String required : List.of(MODEL_FILE, OPTIMIZER_FILE, STATE_FILE)) {
            if (!sums.containsKey(required)) throw new CheckpointFormatException(sumsFile + " does not cover " + required);
        }
        Sha256Sums.verify(dir, sums);

        TrainerState state = TrainerState.read(dir.resolve(STATE_FILE));
        if (state.step() != step) {
            throw new CheckpointFormatException(dir.resolve(STATE_FILE) + " says step " + state.step() + " but the directory is step " + step);
        }
        SafeTensors.Header model = SafeTensors.readHeader(dir.resolve(MODEL_FILE));
        SafeTensors.Header optimizer = SafeTensors.readHeader(dir.resolve(OPTIMIZER_FILE));
        String optStep = optimizer.metadata().get(OPTIMIZER_STEP_KEY);
        long optimizerStep;
        try {
            optimizerStep = Long.parseLong(optStep);
        } catch (NumberFormatException e) {
            throw new CheckpointFormatException(dir.resolve(OPTIMIZER_FILE) + ": metadata '" + OPTIMIZER_STEP_KEY
                    + "' must be an integer, got " + optStep);
        }
        return new LoadedCheckpoint(dir, step, state, optimizerStep, model.metadata());
    }

    private static long stepOf(Path dir) {
        Matcher m = STEP_DIR.matcher(dir.getFileName().toString());
        if (!m.matches()) throw new IllegalArgumentException(dir + " is not a checkpoint directory");
        return Long.parseLong(m.group(1));
    }
}
