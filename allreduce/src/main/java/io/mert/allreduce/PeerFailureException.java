package io.mert.allreduce;

/** An allreduce ended because a ring neighbour stopped sending or receiving in time. */
public class PeerFailureException extends Exception {

    /** {@link #peerRank()} of an operation that was called off rather than failed by a neighbour. */
    public static final int NO_PEER = -1;

    private final int peerRank;

    public PeerFailureException(int peerRank, String message) {
        super(message);
        this.peerRank = peerRank;
    }

    /** The rank (in the failed operation's generation) that went silent, or {@link #NO_PEER}. */
    public int peerRank() {
        return peerRank;
    }
}
