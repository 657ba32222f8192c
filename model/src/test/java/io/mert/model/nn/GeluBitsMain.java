package io.mert.model.nn;

import java.util.Arrays;

/** Prints a hash of GELU's and GELU''s bits on fixed inputs: {@link GeluTest} runs it interpreted (-Xint) in a JVM of its own. */
public final class GeluBitsMain {

    static final int N = 4099;

    public static void main(String[] args) {
        System.out.println(hash());
    }

    static long hash() {
        float[] x = new float[N];
        for (int i = 0; i < N; i++) x[i] = (float) (12 * Math.sin(i * 0.37) * Math.cos(i * 0.011));
        float[] y = x.clone(), d = new float[N];
        Arrays.fill(d, 0.75f);
        Gelu.forward(y, N);
        GeluBackward.backward(x.clone(), d, N);
        return 31L * Arrays.hashCode(y) + Arrays.hashCode(d);
    }
}
