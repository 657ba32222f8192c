package io.mert.allreduce;

/**
 * An allreduce ended because the frames from the upstream neighbour's session broke the protocol in a
 * way a genuine sender never does (a chunk arrived twice). Some of the chunks already summed may have
 * been injected, so the buffer must be discarded and the step redone. A {@link PeerFailureException},
 * so callers that redo a step after a peer failure handle it too; {@link #peerRank()} names the rank
 * whose stream it was, which is not necessarily at fault.
 */
public final class CorruptStreamException extends PeerFailureException {

    public CorruptStreamException(int peerRank, String message) {
        super(peerRank, message);
    }
}
