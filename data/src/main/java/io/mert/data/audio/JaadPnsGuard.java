package io.mert.data.audio;

import net.sourceforge.jaad.aac.AACException;
import net.sourceforge.jaad.aac.Decoder;
import net.sourceforge.jaad.aac.SampleBuffer;
import net.sourceforge.jaad.aac.syntax.ICStream;

import java.lang.reflect.Field;

/**
 * Catches the one AAC-LC tool that JAAD, as JCodec 0.2.5 ships it, decodes wrongly: perceptual noise
 * substitution (PNS). Its noise generator is a {@code static int} that each noise coefficient
 * multiplies by the even constant 1664525+1013904223 (a typo for the LCG
 * {@code x * 1664525 + 1013904223}), so after 16 coefficients it is 0 for the rest of the JVM's life;
 * every later noise band then has zero energy, its scale becomes infinite, and the channel turns to NaN
 * (written as silence) until the end of the file. ffmpeg's AAC encoder uses PNS by default.
 *
 * <p>The guard sets that static to 1 before each frame and reads it back after: any change means the
 * frame used PNS, and the caller abandons JAAD for ffmpeg. Because the state is shared by every JAAD
 * decoder in the process, frames are decoded one at a time under a global lock.
 */
final class JaadPnsGuard {
    private static final Object LOCK = new Object();
    private static final Field STATE = find();

    private JaadPnsGuard() {}

    private static Field find() {
        try {
            Field f = ICStream.class.getDeclaredField("randomState");
            f.setAccessible(true);
            return f;
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null; // another JAAD build: without the guard its AAC is not trusted at all
        }
    }

    /** Whether the guard works with the JAAD on the class path; if not, AAC goes to ffmpeg. */
    static boolean available() { return STATE != null; }

    /** Decodes one raw AAC frame; returns false when the frame used PNS, whose output JAAD gets wrong. */
    static boolean decodeFrame(Decoder decoder, byte[] frame, SampleBuffer out) throws AACException {
        synchronized (LOCK) {
            try {
                STATE.setInt(null, 1);
                decoder.decodeFrame(frame, out);
                return STATE.getInt(null) == 1;
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(e);
            }
        }
    }
}
