package io.mert.allreduce;

/** An allreduce ended because a ring neighbour stopped sending or receiving in time. */
public class PeerFailureException extends Exception {

    private final int peerRank;

    public PeerFailureException(int peerRank, String message) {
        super(message);
        this.peerRank = peerRank;
    }

    /** The rank (in the failed operation's generation) that went silent. */
    public int peerRank() {
        return peerRank;
    }
}
