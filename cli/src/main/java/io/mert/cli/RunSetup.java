package io.mert.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.mert.model.checkpoint.CheckpointStore;
import io.mert.model.config.ConfigException;
import io.mert.model.config.ConfigTree;
import io.mert.model.config.TrainConfig;
import io.mert.protocol.ShardPlan;
import io.mert.worker.SessionFactories;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.channels.FileChannel;
import java.util.List;
import java.util.Optional;

/** The run directory: its resolved config, the dataset size the shard plan needs, where to resume. */
final class RunSetup {

    static final String CONFIG_FILE = "config.yaml";

    private RunSetup() {
    }

    /** The run directory: the command line's, else the config's {@code checkpoint.save_dir}. */
    static Path runDir(TrainConfig config, Path override) {
        if (override != null) return override;
        JsonNode saveDir = config.tree().get("checkpoint.save_dir");
        if (saveDir == null || saveDir.asText().isBlank()) {
            throw new ConfigException("no run directory: pass --run-dir or set checkpoint.save_dir in the config");
        }
        return Path.of(saveDir.asText());
    }

    /** Records the resolved config in a new run directory; refuses to start over an existing run. */
    static void startNewRun(Path runDir, TrainConfig config) throws IOException {
        Path configFile = runDir.resolve(CONFIG_FILE);
        if (Files.exists(runDir.resolve("checkpoints").resolve("LATEST"))) {
            throw new IllegalStateException(runDir + " already holds a run with checkpoints: continue it with "
                    + "`mert resume --run-dir " + runDir + "` or choose another run directory");
        }
        Files.createDirectories(runDir);
        writeAtomically(configFile, config.tree().toYaml());
    }

    static TrainConfig configOf(Path runDir) {
        Path f = runDir.resolve(CONFIG_FILE);
        if (!Files.isRegularFile(f)) {
            throw new IllegalArgumentException(runDir + " is not a run directory (no " + CONFIG_FILE + "): start runs with `mert train`");
        }
        return SessionFactories.withLabelClasses(TrainConfig.from(ConfigTree.load(f)));
    }

    /** Usable training clips: the index space of the shard plan, the same count every worker computes. */
    static int datasetSize(TrainConfig config) throws IOException {
        return plan(config).datasetSize();
    }

    /** The run's shard plan over its usable training clips, the same every worker computes; fails early on too little data. */
    static ShardPlan plan(TrainConfig config) throws IOException {
        return SessionFactories.plan(config, SessionFactories.trainingClips(config));
    }

    /** Where a resumed run starts: the newest checkpoint whose checksums verify. */
    record ResumePoint(Path checkpoint, long step, long generation, double trainingSeconds) {
    }

    static Optional<ResumePoint> resumePoint(Path runDir, int keepLast) throws IOException {
        CheckpointStore store = new CheckpointStore(runDir, keepLast);
        store.recoverInterruptedSaves(); // a crash mid-save leaves temporaries (reported at WARN) or a checkpoint moved aside
        return store.loadLatestValid().map(c -> new ResumePoint(c.dir(), c.step(),
                c.state().generation(), c.state().trainingSeconds()));
    }

    static void writeAtomically(Path target, String text) throws IOException {
        Path tmp = target.resolveSibling("." + target.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8)));
            ch.force(true);
        }
        try {
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    static List<String> none() {
        return List.of();
    }
}
