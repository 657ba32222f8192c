package io.mert.model.checkpoint;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Everything besides tensors that resuming a run needs, stored as {@code trainer_state.json}
 * (snake_case keys). The data position is {@code (seed, epoch, samplesConsumedInEpoch)}: sample order
 * is a pure function of the seed and epoch, so that triple says exactly which samples come next.
 *
 * @param formatVersion          {@link #FORMAT_VERSION}; readers refuse versions they do not know
 * @param step                   completed updates when the checkpoint was taken (the directory's number)
 * @param epoch                  epoch the next step draws from
 * @param generation             membership generation at save time (informational on resume: a new one starts)
 * @param samplesConsumedInEpoch samples of {@code epoch} already trained on
 * @param globalBatchSize        samples per step across all workers
 * @param seed                   the run's seed (shuffles, masks, crops all derive from it)
 * @param worldSize              workers at save time
 * @param numUpdates             LR schedule position (fairseq's num_updates), normally equal to step
 * @param lastLr                 learning rate used by the last completed update
 * @param config                 the full resolved training config (YAML tree as maps and lists)
 * @param configHash             {@link #configHash(Map)} of {@code config}
 * @param savedAt                ISO-8601 UTC instant of the save
 * @param trainingSeconds        wall-clock seconds spent training so far, summed over restarts
 * @param extra                  anything else a component wants back on resume (string keys, JSON values)
 */
@JsonInclude(JsonInclude.Include.ALWAYS)
public record TrainerState(
        int formatVersion,
        long step,
        long epoch,
        long generation,
        long samplesConsumedInEpoch,
        long globalBatchSize,
        long seed,
        int worldSize,
        long numUpdates,
        double lastLr,
        Map<String, Object> config,
        String configHash,
        String savedAt,
        double trainingSeconds,
        Map<String, Object> extra) {

    public static final int FORMAT_VERSION = 1;
    /** Far above a real state (a config and a few counters, some KiB); a larger file is not read. */
    public static final long MAX_JSON_BYTES = 64L << 20;

    private static final ObjectMapper JSON = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(SerializationFeature.INDENT_OUTPUT)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
    private static final ObjectMapper CANONICAL = new ObjectMapper()
            .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);

    public TrainerState {
        config = config == null ? Map.of() : config;
        extra = extra == null ? Map.of() : extra;
    }

    /** SHA-256 (hex) of the config serialised as JSON with keys sorted at every level. */
    public static String configHash(Map<String, Object> config) {
        try {
            byte[] canonical = CANONICAL.writeValueAsBytes(config == null ? Map.of() : config);
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(canonical));
        } catch (IOException | NoSuchAlgorithmException e) {
            throw new IllegalArgumentException("config cannot be serialised to JSON for hashing: " + e.getMessage(), e);
        }
    }

    /** This state with {@code extra[key] = value} (a component's own entry, such as fp16's loss scaler). */
    public TrainerState withExtra(String key, Object value) {
        Map<String, Object> more = new java.util.LinkedHashMap<>(extra);
        more.put(key, value);
        return new TrainerState(formatVersion, step, epoch, generation, samplesConsumedInEpoch, globalBatchSize, seed,
                worldSize, numUpdates, lastLr, config, configHash, savedAt, trainingSeconds, more);
    }

    public byte[] toJson() {
        try {
            return JSON.writeValueAsBytes(this);
        } catch (IOException e) {
            throw new IllegalStateException("trainer state cannot be serialised: " + e.getMessage(), e);
        }
    }

    /** Parses and checks a trainer_state.json; {@code source} names it in errors. */
    public static TrainerState fromJson(byte[] json, String source) throws CheckpointFormatException {
        TrainerState s;
        try {
            s = JSON.readValue(json, TrainerState.class);
        } catch (IOException e) {
            throw new CheckpointFormatException(source + ": not a valid trainer state: " + e.getMessage(), e);
        }
        if (s == null) throw new CheckpointFormatException(source + ": empty trainer state");
        if (s.formatVersion() != FORMAT_VERSION) {
            throw new CheckpointFormatException(source + ": trainer state format_version " + s.formatVersion()
                    + " is not supported (this build reads " + FORMAT_VERSION + ")");
        }
        if (s.step() < 0 || s.epoch() < 0 || s.samplesConsumedInEpoch() < 0 || s.numUpdates() < 0) {
            throw new CheckpointFormatException(source + ": negative step, epoch, samples_consumed_in_epoch or num_updates");
        }
        if (s.configHash() != null && !s.configHash().equals(configHash(s.config()))) {
            throw new CheckpointFormatException(source + ": config_hash does not match the stored config (edited by hand?)");
        }
        return s;
    }

    /** Writes this state to {@code file} atomically. */
    public void write(Path file) throws IOException {
        AtomicFiles.write(file, toJson());
    }

    public static TrainerState read(Path file) throws IOException {
        long size = Files.size(file);
        if (size > MAX_JSON_BYTES) {
            throw new CheckpointFormatException(file + ": " + size + " bytes is larger than any trainer state (limit "
                    + MAX_JSON_BYTES + "): not a trainer_state.json");
        }
        return fromJson(Files.readAllBytes(file), file.toString());
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Fills the format version and the config hash; everything else defaults to zero/empty. */
    public static final class Builder {
        private long step, epoch, generation, samplesConsumedInEpoch, globalBatchSize, seed, numUpdates;
        private int worldSize;
        private double lastLr, trainingSeconds;
        private Map<String, Object> config = Map.of();
        private String savedAt = java.time.Instant.now().toString();
        private final Map<String, Object> extra = new LinkedHashMap<>();

        public Builder step(long v) { step = v; return this; }
        public Builder epoch(long v) { epoch = v; return this; }
        public Builder generation(long v) { generation = v; return this; }
        public Builder samplesConsumedInEpoch(long v) { samplesConsumedInEpoch = v; return this; }
        public Builder globalBatchSize(long v) { globalBatchSize = v; return this; }
        public Builder seed(long v) { seed = v; return this; }
        public Builder worldSize(int v) { worldSize = v; return this; }
        public Builder numUpdates(long v) { numUpdates = v; return this; }
        public Builder lastLr(double v) { lastLr = v; return this; }
        public Builder trainingSeconds(double v) { trainingSeconds = v; return this; }
        public Builder config(Map<String, Object> v) { config = v; return this; }
        public Builder savedAt(String v) { savedAt = v; return this; }
        public Builder extra(String key, Object value) { extra.put(key, value); return this; }

        public TrainerState build() {
            return new TrainerState(FORMAT_VERSION, step, epoch, generation, samplesConsumedInEpoch, globalBatchSize, seed,
                    worldSize, numUpdates, lastLr, config, configHash(config), savedAt, trainingSeconds,
                    java.util.Collections.unmodifiableMap(new LinkedHashMap<>(extra)));
        }
    }

    /** Compact description for logs. */
    public String summary() {
        return "step " + step + ", epoch " + epoch + " (+" + samplesConsumedInEpoch + " samples), generation " + generation
                + ", world " + worldSize + ", lr " + lastLr + ", config " + (configHash == null ? "?" : configHash.substring(0, Math.min(12, configHash.length())));
    }
}
