package io.mert.data;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * {@link TrainingClips} with unreadable audio skipped deterministically. A draw of usable index
 * {@code i} whose audio cannot be read is replaced by the first of {@code i+1, i+2, ...} (mod size)
 * whose audio reads, cropped with the draw's own seed. The choice is a pure function of the draw and
 * the files' contents, so whichever rank builds the row makes the same one, and every rank agrees on
 * the batch. Entries found unreadable are remembered and skipped without another read; the skip is
 * still reported with every draw it affects, so what a step reports does not depend on which worker
 * met the file first.
 *
 * <p>Thread-safe.
 */
public final class ReadableClips {

    /** A usable entry stepped over because its audio cannot be read. */
    public record Unreadable(int index, String path, String reason) {
    }

    /**
     * The clip a draw resolved to: {@code clip.index()} is the drawn index, or its replacement when
     * {@code skipped} (in the order they were met) is not empty.
     */
    public record Drawn(TrainingClips.Clip clip, List<Unreadable> skipped) {
    }

    private final TrainingClips clips;
    private final Map<Integer, String> unreadable = new ConcurrentHashMap<>();

    public ReadableClips(TrainingClips clips) {
        this.clips = clips;
    }

    public TrainingClips clips() {
        return clips;
    }

    /** Usable indices found unreadable so far, with the reason. */
    public Map<Integer, String> unreadable() {
        return Map.copyOf(unreadable);
    }

    /**
     * The clip for draw {@code index} with crop seed {@code seed}, skipping unreadable entries.
     *
     * @throws UnreadableAudioException naming the drawn entry when no entry of the manifest can be read
     */
    public Drawn clip(int index, long seed) {
        return clip(index, seed, clips.cropSamples());
    }

    /**
     * As {@link #clip(int, long)} with a crop of {@code samples}; a replacement must give a crop that long
     * (entries that are too short are passed over without being reported: they are readable).
     */
    public Drawn clip(int index, long seed, int samples) {
        int n = clips.size();
        List<Unreadable> skipped = new ArrayList<>();
        for (int k = 0; k < n; k++) {
            int i = (int) ((index + (long) k) % n);
            if (k > 0 && clips.sizeOf(i) < samples) continue;
            String reason = unreadable.get(i);
            if (reason == null) {
                try {
                    return new Drawn(clips.clip(i, seed, samples), List.copyOf(skipped));
                } catch (UnreadableAudioException e) {
                    reason = e.reason();
                    unreadable.putIfAbsent(i, reason);
                }
            }
            skipped.add(new Unreadable(i, clips.path(i), reason));
        }
        throw new UnreadableAudioException(index, clips.path(index), new IOException("none of the " + n
                + " usable clips of the manifest can be read; the first one met: " + skipped.get(0).reason()));
    }
}
