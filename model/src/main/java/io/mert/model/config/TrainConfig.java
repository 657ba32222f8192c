package io.mert.model.config;

import com.fasterxml.jackson.databind.JsonNode;
import io.mert.model.MertConfig;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The typed, validated view of a training config. Keys follow fairseq's MERT/HuBERT configs
 * ({@code task.max_sample_size}, {@code optimization.lr}, {@code lr_scheduler.warmup_updates}, ...).
 * Keys fairseq does not have are ours and documented in the README: {@code model.preset} (the
 * starting point that {@code model.*} keys override) and {@code dataset.global_batch_size} (clips
 * per update over all workers; fixed when the world size changes), {@code distributed_training.state_transfer}
 * (how a joining worker gets the running state). {@code dataset.max_tokens} is fairseq's key but counts
 * the samples of a whole update over all workers, not of one GPU's batch.
 */
public record TrainConfig(
        ConfigTree tree,
        long seed,
        int logInterval,
        Path manifestDir,
        Path labelDir,
        List<String> labels,
        int maxSampleSize,
        MertConfig model,
        int globalBatch,
        int maxTokens,
        int minSampleSize,
        int maxUpdate,
        double lr,
        double clipNorm,
        double beta1,
        double beta2,
        double adamEps,
        double weightDecay,
        int warmupUpdates,
        int totalNumUpdate,
        double endLearningRate,
        double power,
        int saveIntervalUpdates,
        int keepLast,
        int worldSize,
        int minWorldSize,
        double stepTimeoutSeconds,
        boolean strictData,
        String validSubset,
        int validateIntervalUpdates,
        int validateAfterUpdates,
        boolean disableValidation,
        int maxValidSteps,
        String allreduceWire) {

    /** Values of {@code distributed_training.allreduce_wire}: how gradients travel in the ring allreduce. */
    public static final List<String> ALLREDUCE_WIRES = List.of("fp32", "bf16");

    public static TrainConfig from(ConfigTree t) {
        Reader r = new Reader(t);
        MertConfig model = modelConfig(r);
        int maxUpdate = r.integer("optimization.max_update", 1000, 1, Integer.MAX_VALUE);
        int maxSample = r.integer("task.max_sample_size", 48000, 1, Integer.MAX_VALUE);
        int frames = model.framesFor(maxSample);
        if (frames < model.maskLength() + 1) {
            throw new ConfigException("task.max_sample_size=" + maxSample + " gives " + frames + " frames after the conv extractor "
                    + "(receptive field " + samplesForFrames(model, 1) + " samples, stride " + model.frameStride()
                    + "), fewer than one mask span plus one (model.mask_length=" + model.maskLength() + "): allowed is >= "
                    + samplesForFrames(model, model.maskLength() + 1) + " samples");
        }
        int sampleRate = r.integer("task.sample_rate", 24000, 1, Integer.MAX_VALUE);
        if (sampleRate != model.sampleRate()) {
            throw new ConfigException("task.sample_rate=" + sampleRate + " but the model expects " + model.sampleRate() + " Hz");
        }
        int labelRate = r.integer("task.label_rate", model.labelRate(), 1, Integer.MAX_VALUE);
        if ((long) labelRate * model.frameStride() != sampleRate) {
            throw new ConfigException("task.label_rate=" + labelRate + " does not match the model's frame rate "
                    + (double) sampleRate / model.frameStride() + " Hz (task.sample_rate=" + sampleRate + " / conv stride "
                    + model.frameStride() + "): allowed is exactly that rate, so labels line up with frames");
        }
        double[] betas = r.betas("optimizer.adam_betas", 0.9, 0.98);
        int worldSize = r.integer("distributed_training.distributed_world_size", 1, 0, 4096);
        int minWorld = r.integer("distributed_training.min_world_size", 1, 1, 4096);
        boolean byTokens = present(t, "dataset.max_tokens");
        if (byTokens && present(t, "dataset.global_batch_size")) {
            throw new ConfigException("dataset.max_tokens and dataset.global_batch_size are both set: choose one (max_tokens: "
                    + "variable batches of at most that many audio samples per update over all workers, fairseq's way; "
                    + "global_batch_size: a fixed number of clips per update)");
        }
        int globalBatch = byTokens ? 0 : r.integer("dataset.global_batch_size", 8, 1, 1 << 20);
        int maxTokens = byTokens ? r.integer("dataset.max_tokens", 0, 1, Integer.MAX_VALUE) : 0;
        if (byTokens && maxTokens < maxSample) {
            throw new ConfigException("dataset.max_tokens=" + maxTokens + " is smaller than task.max_sample_size=" + maxSample
                    + ": a batch must hold at least one full crop; allowed is max_tokens >= " + maxSample);
        }
        int minSample = r.integer("task.min_sample_size", 0, 0, Integer.MAX_VALUE);
        if (minSample > maxSample) {
            throw new ConfigException("task.min_sample_size=" + minSample + " exceeds task.max_sample_size=" + maxSample
                    + ": allowed is min_sample_size <= max_sample_size");
        }
        // the fewest clips a step holds (but an epoch's last, partial batch): one per worker at least
        int clipsPerStep = byTokens ? maxTokens / maxSample : globalBatch;
        String batchKey = byTokens ? "dataset.max_tokens=" + maxTokens + " / task.max_sample_size=" + maxSample + " = "
                + clipsPerStep + " full crops per step" : "dataset.global_batch_size=" + globalBatch;
        if (minWorld > clipsPerStep) {
            throw new ConfigException("distributed_training.min_world_size=" + minWorld + " exceeds " + batchKey
                    + ": every worker needs at least one clip per step; allowed is min_world_size <= " + clipsPerStep);
        }
        if (worldSize > clipsPerStep) {
            throw new ConfigException("distributed_training.distributed_world_size=" + worldSize + " exceeds " + batchKey
                    + ": the extra workers would get no clip; allowed is distributed_world_size <= " + clipsPerStep);
        }
        stateTransfer(t); // validated here, read where it is used
        precision(t);
        lossScale(t, worldSize);
        prefetchBatches(t);
        if (allreduceTransport(t) == AllReduceTransport.SHM
                && r.choice("distributed_training.allreduce_wire", "fp32", ALLREDUCE_WIRES).equals("bf16")) {
            throw new ConfigException("distributed_training.allreduce_transport=shm with distributed_training.allreduce_wire=bf16: "
                    + "the shared-memory allreduce is float32 only (no bytes travel, so bf16 would only cost rounding); "
                    + "allowed are allreduce_transport=shm with allreduce_wire=fp32, or allreduce_transport=aeron with either wire");
        }
        return new TrainConfig(t,
                r.integer("common.seed", 1337, Integer.MIN_VALUE, Integer.MAX_VALUE),
                r.integer("common.log_interval", 10, 1, Integer.MAX_VALUE),
                r.path("task.data"),
                r.pathOr("task.label_dir", r.path("task.data")),
                r.strings("task.labels", List.of("km")),
                maxSample,
                model,
                globalBatch,
                maxTokens,
                minSample,
                maxUpdate,
                r.firstNumber("optimization.lr", 5e-4),
                r.number("optimization.clip_norm", 10.0, 0, Double.MAX_VALUE),
                betas[0], betas[1],
                r.number("optimizer.adam_eps", 1e-6, 0, 1),
                r.number("optimizer.weight_decay", 0.01, 0, 1),
                r.integer("lr_scheduler.warmup_updates", Math.max(1, maxUpdate / 10), 0, Integer.MAX_VALUE),
                r.integer("lr_scheduler.total_num_update", maxUpdate, 1, Integer.MAX_VALUE),
                r.number("lr_scheduler.end_learning_rate", 0.0, 0, 1),
                r.number("lr_scheduler.power", 1.0, 0, 100),
                r.integer("checkpoint.save_interval_updates", 25000, 1, Integer.MAX_VALUE),
                r.integer("checkpoint.keep_interval_updates", 3, 1, 1_000_000),
                worldSize,
                minWorld,
                r.number("distributed_training.step_timeout_s", 120.0, 1, 86400),
                r.bool("dataset.strict_data", false),
                validSubset(r),
                r.integer("dataset.validate_interval_updates", 0, 0, Integer.MAX_VALUE),
                r.integer("dataset.validate_after_updates", 0, 0, Integer.MAX_VALUE),
                r.bool("dataset.disable_validation", false),
                r.integer("dataset.max_valid_steps", 0, 0, Integer.MAX_VALUE),
                r.choice("distributed_training.allreduce_wire", "fp32", ALLREDUCE_WIRES));
    }

    private static boolean present(ConfigTree t, String key) {
        JsonNode n = t.get(key);
        return n != null && !n.isNull();
    }

    /** Whether steps are fairseq-style {@code dataset.max_tokens} batches rather than {@code global_batch_size} clips. */
    public boolean batchesByTokens() {
        return maxTokens > 0;
    }

    /**
     * The most workers a step can use: {@code global_batch_size}, or with {@code max_tokens} the number of
     * full crops ({@code max_tokens / max_sample_size}) that every batch but an epoch's last holds at least.
     */
    public int clipsPerStepAtLeast() {
        return batchesByTokens() ? maxTokens / maxSampleSize : globalBatch;
    }

    /**
     * With {@code max_tokens}: the shortest crop a clip may give, {@code task.min_sample_size} but at least
     * one mask span plus one frame (the fewest frames span masking works on).
     */
    public int shortestCrop() {
        return (int) Math.max(minSampleSize, samplesForFrames(model, model.maskLength() + 1));
    }

    /** How a worker that joins mid-run gets the running state: {@code distributed_training.state_transfer}. */
    public enum StateTransfer {
        /** streamed from a current worker (the donor) over the Aeron data plane; a checkpoint only as the fallback */
        AERON,
        /** always through a checkpoint that rank 0 writes at the step boundary and the newcomers load */
        CHECKPOINT
    }

    public StateTransfer stateTransfer() {
        return stateTransfer(tree);
    }

    private static StateTransfer stateTransfer(ConfigTree t) {
        JsonNode n = t.get("distributed_training.state_transfer");
        String s = n == null ? "aeron" : n.asText().trim().toLowerCase(java.util.Locale.ROOT);
        return switch (s) {
            case "aeron" -> StateTransfer.AERON;
            case "checkpoint" -> StateTransfer.CHECKPOINT;
            default -> throw new ConfigException("distributed_training.state_transfer='" + (n == null ? "" : n.asText())
                    + "': allowed are aeron (a joining worker gets the state from a current one over the data plane) "
                    + "or checkpoint (through a checkpoint written at the step boundary)");
        };
    }

    /** How workers sum their gradients: {@code distributed_training.allreduce_transport}. */
    public enum AllReduceTransport {
        /** the Aeron ring: over IPC on one host, UDP between hosts */
        AERON,
        /**
         * ranks on one host read each other's buffers in shared memory ({@code /dev/shm}); a generation whose workers are
         * not all on one host refuses to start. The state transfer of joining workers still goes over Aeron
         */
        SHM
    }

    public AllReduceTransport allreduceTransport() {
        return allreduceTransport(tree);
    }

    private static AllReduceTransport allreduceTransport(ConfigTree t) {
        JsonNode n = t.get("distributed_training.allreduce_transport");
        String s = n == null ? "aeron" : n.asText().trim().toLowerCase(java.util.Locale.ROOT);
        return switch (s) {
            case "aeron" -> AllReduceTransport.AERON;
            case "shm" -> AllReduceTransport.SHM;
            default -> throw new ConfigException("distributed_training.allreduce_transport='" + (n == null ? "" : n.asText())
                    + "': allowed are aeron (the Aeron ring, any hosts) or shm (every worker on one host: ranks read each "
                    + "other's gradients in shared memory)");
        };
    }

    /**
     * The step's arithmetic: {@code common.fp16} or {@code common.bf16} (fairseq's flags; their {@code memory_efficient_}
     * variants mean the same here, as parameters and optimizer state always stay float32), else float32.
     */
    public Precision precision() {
        return precision(tree);
    }

    private static Precision precision(ConfigTree t) {
        Reader r = new Reader(t);
        boolean fp16 = r.bool("common.fp16", false) || r.bool("common.memory_efficient_fp16", false);
        boolean bf16 = r.bool("common.bf16", false) || r.bool("common.memory_efficient_bf16", false);
        if (fp16 && bf16) {
            throw new ConfigException("common.fp16 and common.bf16 are both set: choose one (fp16: half-precision products with "
                    + "a dynamic loss scale; bf16: bfloat16 products, float32's range, no loss scale)");
        }
        return fp16 ? Precision.FP16 : bf16 ? Precision.BF16 : Precision.FP32;
    }

    /** fairseq's dynamic loss scale settings ({@code common.fp16_*}, {@code common.min_loss_scale}); used with fp16. */
    public LossScaleConfig lossScale() {
        return lossScale(tree, worldSize);
    }

    private static LossScaleConfig lossScale(ConfigTree t, int worldSize) {
        Reader r = new Reader(t);
        LossScaleConfig d = LossScaleConfig.defaults(worldSize);
        JsonNode threshold = t.get("common.threshold_loss_scale");
        return new LossScaleConfig(
                r.number("common.fp16_init_scale", d.initScale(), Double.MIN_VALUE, Double.MAX_VALUE),
                present(t, "common.fp16_scale_window") ? r.integer("common.fp16_scale_window", d.scaleWindow(), 1, Integer.MAX_VALUE)
                        : d.scaleWindow(),
                r.number("common.fp16_scale_tolerance", d.tolerance(), 0, 1),
                r.number("common.min_loss_scale", d.minScale(), Double.MIN_VALUE, Double.MAX_VALUE),
                threshold == null || threshold.isNull() ? Double.NaN
                        : r.number("common.threshold_loss_scale", 1, Double.MIN_VALUE, Double.MAX_VALUE));
    }

    /**
     * {@code dataset.prefetch_batches}: batches a worker builds ahead on a background loader thread while
     * a step computes (default 1); 0 builds each batch inline in the step. Ours, not fairseq's; it does not
     * change what is trained (a batch depends only on its step, rank and world size).
     */
    public int prefetchBatches() {
        return prefetchBatches(tree);
    }

    private static int prefetchBatches(ConfigTree t) {
        return new Reader(t).integer("dataset.prefetch_batches", 1, 0, 64);
    }

    /** fairseq's {@code dataset.valid_subset}: one split name (we validate on one), a manifest file stem. */
    private static String validSubset(Reader r) {
        String s = r.string("dataset.valid_subset", "valid").trim();
        if (!s.matches("[A-Za-z0-9_.-]+") || s.startsWith("."))
            throw new ConfigException("dataset.valid_subset='" + s + "': expected one split name such as valid "
                    + "(letters, digits, '_', '-', '.'; several comma-separated subsets are not supported)");
        return s;
    }

    /**
     * fairseq's rule for when to validate after {@code completed} updates: at every periodic checkpoint
     * ({@code checkpoint.save_interval_updates}) and at the last update, plus every
     * {@code dataset.validate_interval_updates} when that is positive; never with
     * {@code dataset.disable_validation}, nor before {@code dataset.validate_after_updates}.
     * (fairseq also validates at the end of every {@code dataset.validate_interval} epochs; we do not.)
     */
    public boolean validatesAfter(long completed) {
        if (disableValidation || completed <= 0 || completed < validateAfterUpdates) return false;
        return completed % saveIntervalUpdates == 0 || completed >= maxUpdate
                || (validateIntervalUpdates > 0 && completed % validateIntervalUpdates == 0);
    }

    public static TrainConfig load(Path file, List<String> overrides) {
        return from(ConfigTree.load(file).withOverrides(overrides));
    }

    public String configHash() {
        return tree.hash();
    }

    /** The model architecture with the number of classes of each label stream filled in. */
    public TrainConfig withLabelClasses(List<Integer> classes) {
        return new TrainConfig(tree, seed, logInterval, manifestDir, labelDir, labels, maxSampleSize,
                model.withLabelClasses(classes), globalBatch, maxTokens, minSampleSize, maxUpdate, lr, clipNorm, beta1, beta2, adamEps, weightDecay,
                warmupUpdates, totalNumUpdate, endLearningRate, power, saveIntervalUpdates, keepLast, worldSize,
                minWorldSize, stepTimeoutSeconds, strictData, validSubset, validateIntervalUpdates, validateAfterUpdates,
                disableValidation, maxValidSteps, allreduceWire);
    }

    /** Fewest input samples for which the conv extractor gives {@code frames} frames (its layers inverted). */
    static long samplesForFrames(MertConfig model, int frames) {
        long n = frames;
        List<MertConfig.ConvLayer> layers = model.convFeatureLayers();
        for (int i = layers.size() - 1; i >= 0; i--) n = (n - 1) * layers.get(i).stride() + layers.get(i).kernel();
        return n;
    }

    private static MertConfig modelConfig(Reader r) {
        String preset = r.string("model.preset", "tiny");
        MertConfig p;
        try {
            p = MertConfig.preset(preset);
        } catch (IllegalArgumentException e) {
            throw new ConfigException("model.preset: " + e.getMessage());
        }
        List<MertConfig.ConvLayer> conv = r.has("model.conv_feature_layers")
                ? parseConvLayers(r.string("model.conv_feature_layers", ""))
                : p.convFeatureLayers();
        String mode = r.string("model.extractor_mode", p.extractorMode());
        if (!mode.equals("default") && !mode.equals("layer_norm")) {
            throw new ConfigException("model.extractor_mode='" + mode + "': allowed values are default, layer_norm");
        }
        int dim = r.integer("model.encoder_embed_dim", p.encoderEmbedDim(), 1, 1 << 16);
        int heads = r.integer("model.encoder_attention_heads", p.encoderAttentionHeads(), 1, 1024);
        if (dim % heads != 0) {
            throw new ConfigException("model.encoder_embed_dim=" + dim + " is not divisible by model.encoder_attention_heads=" + heads);
        }
        int convPosGroups = r.integer("model.conv_pos_groups", p.convPosGroups(), 1, 1024);
        if (dim % convPosGroups != 0) {
            throw new ConfigException("model.conv_pos_groups=" + convPosGroups + " does not divide model.encoder_embed_dim=" + dim);
        }
        List<Double> lossWeights = r.has("criterion.loss_weights") ? r.numbers("criterion.loss_weights") : p.lossWeights();
        return new MertConfig(conv, mode,
                r.integer("model.encoder_layers", p.encoderLayers(), 1, 1024), dim,
                r.integer("model.encoder_ffn_embed_dim", p.encoderFfnEmbedDim(), 1, 1 << 18), heads,
                r.bool("model.layer_norm_first", p.layerNormFirst()),
                r.integer("model.conv_pos", p.convPos(), 1, 4096), convPosGroups,
                r.number("model.attention_relax", p.attentionRelax(), -1, 1e6),
                r.integer("model.final_dim", p.finalDim(), 1, 1 << 16),
                r.number("model.logit_temp", p.logitTemp(), 1e-6, 1e6),
                r.number("model.mask_prob", p.maskProb(), 0, 1),
                r.integer("model.mask_length", p.maskLength(), 1, 10000),
                r.number("model.feature_grad_mult", p.featureGradMult(), 0, 1e6),
                r.number("model.dropout", p.dropout(), 0, 1),
                r.number("model.attention_dropout", p.attentionDropout(), 0, 1),
                r.number("model.activation_dropout", p.activationDropout(), 0, 1),
                r.number("model.dropout_input", p.dropoutInput(), 0, 1),
                r.number("model.dropout_features", p.dropoutFeatures(), 0, 1),
                r.number("model.encoder_layerdrop", p.encoderLayerdrop(), 0, 1),
                p.labelClasses(),
                r.integer("model.audio_cqt_bins", p.cqtBins(), 1, 4096),
                lossWeights,
                r.integer("task.sample_rate", p.sampleRate(), 1, Integer.MAX_VALUE),
                p.labelRate());
    }

    // Possessive quantifiers: an unclosed list of many tuples fails in linear time instead of backtracking exponentially.
    private static final Pattern TERM = Pattern.compile("\\[((?:\\s*+\\(\\s*+\\d++\\s*+,\\s*+\\d++\\s*+,\\s*+\\d++\\s*+\\)\\s*+,?+)++)\\]\\s*+(?:\\*\\s*+(\\d++))?");
    private static final Pattern TUPLE = Pattern.compile("\\(\\s*(\\d+)\\s*,\\s*(\\d+)\\s*,\\s*(\\d+)\\s*\\)");
    private static final int MAX_CONV_LAYERS = 64;
    private static final int MAX_CONV_CHANNELS = 1 << 16;
    private static final int MAX_KERNEL_OR_STRIDE = 4096;
    /** Samples per frame; MERT's is 320. */
    private static final long MAX_FRAME_STRIDE = 1 << 20;

    /** Parses fairseq's {@code "[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2"}. */
    public static List<MertConfig.ConvLayer> parseConvLayers(String spec) {
        List<MertConfig.ConvLayer> out = new ArrayList<>();
        for (String part : spec.split("\\+")) {
            Matcher m = TERM.matcher(part.trim());
            if (!m.matches()) {
                throw new ConfigException("model.conv_feature_layers: cannot read '" + part.trim()
                        + "'; expected terms like [(512,10,5)] or [(512,3,2)] * 4 joined by +");
            }
            int times = m.group(2) == null ? 1 : convNumber(m.group(2), "repeat count", MAX_CONV_LAYERS);
            List<MertConfig.ConvLayer> term = new ArrayList<>();
            Matcher t = TUPLE.matcher(m.group(1));
            while (t.find()) {
                term.add(new MertConfig.ConvLayer(convNumber(t.group(1), "channels", MAX_CONV_CHANNELS),
                        convNumber(t.group(2), "kernel", MAX_KERNEL_OR_STRIDE), convNumber(t.group(3), "stride", MAX_KERNEL_OR_STRIDE)));
            }
            if ((long) out.size() + (long) term.size() * times > MAX_CONV_LAYERS)
                throw new ConfigException("model.conv_feature_layers has more than " + MAX_CONV_LAYERS + " layers");
            for (int i = 0; i < times; i++) out.addAll(term);
        }
        if (out.isEmpty()) throw new ConfigException("model.conv_feature_layers is empty");
        long stride = 1;
        for (MertConfig.ConvLayer l : out) {
            stride *= l.stride(); // <= 2^20 * 4096 before the check: no overflow
            if (stride > MAX_FRAME_STRIDE)
                throw new ConfigException("model.conv_feature_layers: the product of the strides exceeds " + MAX_FRAME_STRIDE
                        + " samples per frame (MERT's is 320)");
        }
        return out;
    }

    private static int convNumber(String digits, String what, int max) {
        long v;
        try {
            v = Long.parseLong(digits);
        } catch (NumberFormatException e) {
            v = Long.MAX_VALUE;
        }
        if (v < 1 || v > max)
            throw new ConfigException("model.conv_feature_layers: " + what + " " + digits + " outside the allowed range [1, " + max + "]");
        return (int) v;
    }

    /** Typed reads with defaults and range checks whose errors name the key. */
    private record Reader(ConfigTree t) {
        boolean has(String key) {
            return t.get(key) != null;
        }

        String string(String key, String dflt) {
            JsonNode n = t.get(key);
            return n == null ? dflt : n.asText();
        }

        String choice(String key, String dflt, List<String> allowed) {
            String v = string(key, dflt).trim().toLowerCase(java.util.Locale.ROOT);
            if (!allowed.contains(v)) {
                throw new ConfigException(key + "='" + string(key, dflt) + "': allowed values are " + String.join(", ", allowed));
            }
            return v;
        }

        Path path(String key) {
            JsonNode n = t.get(key);
            if (n == null || n.asText().isBlank()) throw new ConfigException(key + " is required (a directory path)");
            return toPath(key, n.asText());
        }

        Path pathOr(String key, Path dflt) {
            JsonNode n = t.get(key);
            return n == null || n.asText().isBlank() ? dflt : toPath(key, n.asText());
        }

        private static Path toPath(String key, String s) {
            try {
                return Path.of(s);
            } catch (java.nio.file.InvalidPathException e) {
                throw new ConfigException(key + "='" + s + "' is not a valid path: " + e.getReason());
            }
        }

        boolean bool(String key, boolean dflt) {
            JsonNode n = t.get(key);
            if (n == null) return dflt;
            if (n.isBoolean()) return n.booleanValue();
            String s = n.asText().toLowerCase();
            if (s.equals("true")) return true;
            if (s.equals("false")) return false;
            throw new ConfigException(key + "=" + n.asText() + ": expected true or false");
        }

        int integer(String key, int dflt, int min, int max) {
            JsonNode n = t.get(key);
            if (n == null) return dflt;
            long v;
            if (n.isIntegralNumber()) {
                if (!n.canConvertToLong())
                    throw new ConfigException(key + "=" + n.asText() + ": allowed range is [" + min + ", " + max + "]");
                v = n.longValue();
            } else {
                try {
                    v = Long.parseLong(n.asText().trim());
                } catch (NumberFormatException e) {
                    throw new ConfigException(key + "=" + n.asText() + ": expected an integer");
                }
            }
            if (v < min || v > max) throw new ConfigException(key + "=" + v + ": allowed range is [" + min + ", " + max + "]");
            return (int) v;
        }

        double number(String key, double dflt, double min, double max) {
            JsonNode n = t.get(key);
            if (n == null) return dflt;
            double v = toDouble(key, n);
            if (!(v >= min && v <= max)) throw new ConfigException(key + "=" + v + ": allowed range is [" + min + ", " + max + "]");
            return v;
        }

        double firstNumber(String key, double dflt) {
            JsonNode n = t.get(key);
            if (n == null) return dflt;
            if (n.isArray()) {
                if (n.isEmpty()) throw new ConfigException(key + " is an empty list");
                n = n.get(0);
            }
            double v = toDouble(key, n);
            if (!(v > 0) || Double.isInfinite(v)) throw new ConfigException(key + "=" + v + ": the learning rate must be positive and finite");
            return v;
        }

        List<Double> numbers(String key) {
            JsonNode n = t.get(key);
            List<Double> out = new ArrayList<>();
            if (n.isArray()) for (JsonNode e : n) out.add(toDouble(key, e));
            else out.add(toDouble(key, n));
            for (double v : out)
                if (!(v >= 0) || Double.isInfinite(v)) throw new ConfigException(key + "=" + n + ": each value must be finite and >= 0");
            return List.copyOf(out);
        }

        List<String> strings(String key, List<String> dflt) {
            JsonNode n = t.get(key);
            if (n == null) return dflt;
            List<String> out = new ArrayList<>();
            if (n.isArray()) for (JsonNode e : n) out.add(e.asText());
            else for (String s : n.asText().replaceAll("[\\[\\]'\" ]", "").split(",")) if (!s.isEmpty()) out.add(s);
            if (out.isEmpty()) throw new ConfigException(key + " is empty: name at least one label stream (e.g. km)");
            return List.copyOf(out);
        }

        /** fairseq writes betas as the string "(0.9, 0.98)"; a YAML list works too. */
        double[] betas(String key, double b1, double b2) {
            JsonNode n = t.get(key);
            if (n == null) return new double[]{b1, b2};
            List<Double> v = new ArrayList<>();
            if (n.isArray()) for (JsonNode e : n) v.add(toDouble(key, e));
            else for (String s : n.asText().replaceAll("[()\\[\\] ]", "").split(",")) v.add(toDouble(key, s));
            if (v.size() != 2 || !(v.get(0) >= 0 && v.get(0) < 1) || !(v.get(1) >= 0 && v.get(1) < 1)) {
                throw new ConfigException(key + "=" + n.asText() + ": expected two betas in [0, 1), e.g. (0.9, 0.98)");
            }
            return new double[]{v.get(0), v.get(1)};
        }

        private static double toDouble(String key, JsonNode n) {
            if (n.isNumber()) return n.doubleValue();
            return toDouble(key, n.asText());
        }

        private static double toDouble(String key, String s) {
            try {
                return Double.parseDouble(s.trim());
            } catch (NumberFormatException e) {
                throw new ConfigException(key + "=" + s + ": expected a number");
            }
        }
    }
}
