package io.mert.cli;

import io.mert.data.ManifestBuilder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "prepare-manifest", mixinStandardHelpOptions = true,
        description = "Convert audio (WAV, FLAC, Ogg Vorbis, MP3) to 24 kHz mono WAV and write MERT/HuBERT manifests (train.tsv, valid.tsv).")
final class PrepareManifestCommand implements Callable<Integer> {

    @Option(names = "--root-dir", required = true, description = "directory searched (recursively) for audio")
    Path rootDir;

    @Option(names = "--target-rate", defaultValue = "24000", description = "sample rate of the converted files (default ${DEFAULT-VALUE})")
    int targetRate;

    @Option(names = "--converted-root-dir", required = true, description = "where converted files go (same relative paths; originals are never touched)")
    Path convertedRootDir;

    @Option(names = "--out-dir", required = true, description = "where train.tsv, valid.tsv and skipped.tsv are written")
    Path outDir;

    @Option(names = "--extension", split = ",", defaultValue = "wav", description = "audio extension(s) to pick up, comma separated: wav, flac, ogg, oga, mp3, opus, m4a, mp4, m4b, aac, and with ffmpeg installed wv, ape, wma, aif, aiff, mka, webm, ac3, mp2, caf (default ${DEFAULT-VALUE}); the decoder is chosen by content")
    List<String> extensions;

    @Option(names = "--valid-percent", defaultValue = "0.001", description = "fraction of files for valid.tsv (default ${DEFAULT-VALUE})")
    double validFraction;

    @Option(names = "--seed", defaultValue = "1317", description = "seed of the train/valid split (default ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--min-seconds", defaultValue = "3.0", description = "skip files shorter than this (default ${DEFAULT-VALUE})")
    double minSeconds;

    @Override
    public Integer call() throws Exception {
        ManifestBuilder.Result r = run(new ManifestBuilder.Options(rootDir, convertedRootDir, outDir, targetRate, extensions,
                validFraction, seed, minSeconds));
        return r.train().size() > 0 ? 0 : 1;
    }

    static ManifestBuilder.Result run(ManifestBuilder.Options o) throws Exception {
        ProgressBar.Phases progress = ProgressBar.Phases.onConsole("prepare-manifest", "files");
        ManifestBuilder.Result r;
        try {
            r = ManifestBuilder.build(o, progress);
        } finally {
            progress.finish();
        }
        System.out.printf("prepare-manifest: %d train + %d valid files (%d converted, %d already done) -> %s%n",
                r.train().size(), r.valid().size(), r.converted(), r.reused(), o.outDir().resolve("train.tsv"));
        for (ManifestBuilder.Skipped s : r.skipped()) System.out.println("  skipped " + s.path() + ": " + s.reason());
        return r;
    }
}
