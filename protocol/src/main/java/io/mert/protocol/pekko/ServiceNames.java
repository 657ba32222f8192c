package io.mert.protocol.pekko;

/** Receptionist service names shared by the coordinator and the workers. */
public final class ServiceNames {
    /** The coordinator's remote inbox (a {@code CoordinatorInbound} receiver). */
    public static final String COORDINATOR = "mert-coordinator";

    private ServiceNames() {
    }
}
