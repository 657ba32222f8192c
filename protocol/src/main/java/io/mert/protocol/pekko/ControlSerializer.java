package io.mert.protocol.pekko;

import com.google.protobuf.InvalidProtocolBufferException;
import io.mert.protocol.control.CoordinatorInbound;
import io.mert.protocol.control.WorkerInbound;
import org.apache.pekko.serialization.SerializerWithStringManifest;

import java.io.NotSerializableException;

/**
 * Puts the two control envelopes on Pekko's wire as protobuf. Only these two types are accepted: a
 * fixed table, no class loading by name, and a bound on the message size, so a peer cannot make
 * this node instantiate or allocate anything it did not expect.
 */
public final class ControlSerializer extends SerializerWithStringManifest {

    /** Control messages are small; a bigger one is a bug or an attack. */
    public static final int MAX_MESSAGE_BYTES = 1 << 20;

    private static final String COORDINATOR_INBOUND = "C1";
    private static final String WORKER_INBOUND = "W1";

    @Override
    public int identifier() {
        return 4_711_001;
    }

    @Override
    public String manifest(Object o) {
        if (o instanceof CoordinatorInbound) return COORDINATOR_INBOUND;
        if (o instanceof WorkerInbound) return WORKER_INBOUND;
        throw new IllegalArgumentException("not a mert control message: " + o.getClass().getName());
    }

    @Override
    public byte[] toBinary(Object o) {
        if (o instanceof CoordinatorInbound c) return c.toByteArray();
        if (o instanceof WorkerInbound w) return w.toByteArray();
        throw new IllegalArgumentException("not a mert control message: " + o.getClass().getName());
    }

    @Override
    public Object fromBinary(byte[] bytes, String manifest) throws NotSerializableException {
        if (bytes.length > MAX_MESSAGE_BYTES) {
            throw new NotSerializableException("control message of " + bytes.length + " bytes exceeds " + MAX_MESSAGE_BYTES);
        }
        try {
            return switch (manifest) {
                case COORDINATOR_INBOUND -> CoordinatorInbound.parseFrom(bytes);
                case WORKER_INBOUND -> WorkerInbound.parseFrom(bytes);
                default -> throw new NotSerializableException("unknown control manifest '" + manifest + "'");
            };
        } catch (InvalidProtocolBufferException e) {
            NotSerializableException ex = new NotSerializableException("corrupt " + manifest + " control message: " + e.getMessage());
            ex.initCause(e);
            throw ex;
        }
    }
}
