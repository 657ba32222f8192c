package io.mert.model.checkpoint;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.security.MessageDigest;

/** Passes writes through to a channel and hashes exactly the bytes written, so files are hashed without re-reading. */
final class DigestingChannel implements WritableByteChannel {
    private final WritableByteChannel out;
    private final MessageDigest digest;

    DigestingChannel(WritableByteChannel out, MessageDigest digest) {
        this.out = out;
        this.digest = digest;
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        ByteBuffer written = src.duplicate();
        int n = out.write(src);
        written.limit(written.position() + n);
        digest.update(written);
        return n;
    }

    @Override
    public boolean isOpen() {
        return out.isOpen();
    }

    @Override
    public void close() throws IOException {
        out.close();
    }
}
