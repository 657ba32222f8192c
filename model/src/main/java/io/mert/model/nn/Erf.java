package io.mert.model.nn;

/**
 * The error function for float32 work, without a call into native code per element: cubic Hermite interpolation, in
 * double, of a table of erf and its derivative at steps of 1/128 on [0, 6] (erf(6) = 1 - 2e-17), which bounds the
 * error by about 1e-10. The table is computed once, from the Maclaurin series below 2.5 and the continued fraction of
 * erfc above, both in double.
 */
final class Erf {

    private static final int PER_UNIT = 128;
    private static final double LIMIT = 6.0;
    private static final double TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
    private static final double[] VALUE = new double[(int) (LIMIT * PER_UNIT) + 2];
    private static final double[] SLOPE = new double[VALUE.length]; // derivative times the step, for the Hermite basis

    static {
        for (int i = 0; i < VALUE.length; i++) {
            double x = (double) i / PER_UNIT;
            VALUE[i] = accurate(x);
            SLOPE[i] = TWO_OVER_SQRT_PI * Math.exp(-x * x) / PER_UNIT;
        }
    }

    private Erf() {
    }

    static double erf(double x) {
        double t = Math.abs(x);
        double r;
        if (!(t < LIMIT)) {
            r = Double.isNaN(t) ? Double.NaN : 1.0;
        } else {
            double s = t * PER_UNIT;
            int i = (int) s;
            double u = s - i, u2 = u * u, u3 = u2 * u;
            r = (2 * u3 - 3 * u2 + 1) * VALUE[i] + (u3 - 2 * u2 + u) * SLOPE[i]
                    + (3 * u2 - 2 * u3) * VALUE[i + 1] + (u3 - u2) * SLOPE[i + 1];
        }
        return x < 0 ? -r : r;
    }

    /** erf to double precision (slow: the table's source). */
    static double accurate(double x) {
        if (x < 0) return -accurate(-x);
        if (x < 2.5) {
            double term = x, sum = x; // term n: (-1)^n x^(2n+1) / n!
            for (int n = 1; n < 200; n++) {
                term *= -x * x / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
            }
            return TWO_OVER_SQRT_PI * sum;
        }
        // erfc(x) = exp(-x^2) / sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / (x + 2 / (x + ...))))), evaluated from the tail
        double f = x;
        for (int k = 120; k >= 1; k--) f = x + (k / 2.0) / f;
        return 1 - Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
    }
}
