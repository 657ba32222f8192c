package io.mert.worker;

/**
 * A step could not be trained because a clip's audio is unreadable and the run does not skip such
 * clips (strict mode, or no readable clip left). Every rank throws it for the same step, after the
 * allreduce and before any update, so no rank applied the step; only the rank(s) that met the file
 * know its name ({@code path} is null on the others).
 */
final class TrainingDataException extends Exception {

    private final String path;
    private final String reason;

    TrainingDataException(long step, String path, String reason) {
        super(path == null ? "step " + step + ": another rank met unreadable training audio"
                : "step " + step + ": unreadable training audio " + path + ": " + reason);
        this.path = path;
        this.reason = reason;
    }

    String path() {
        return path;
    }

    String reason() {
        return reason;
    }
}
