package io.mert.model.nn;

import io.mert.model.Batch;
import io.mert.model.MertConfig;
import io.mert.model.ParameterLayout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Analytic gradients against central finite differences of the full loss, along a random direction
 * in every parameter tensor (every kind of parameter is covered). Perturbing {@code parameters()} in
 * place also exercises the live views. Conv-extractor gradients are scaled by feature_grad_mult by
 * design, so they are compared against mult times the finite difference.
 */
class GradientCheckTest {

    @ParameterizedTest
    @ValueSource(strings = {"tiny", "tinyPreLn"})
    void gradientsMatchFiniteDifferences(String name) {
        MertConfig c = MertNetworkReferenceTest.config(name);
        try (MertNetwork net = new MertNetwork(c, 3200, 21)) {
            Batch b = TestData.batch(c, 2, 3200, 8);
            INDArray grad = Nd4j.create(DataType.FLOAT, net.layout().totalSize());
            net.computeGradients(b, grad, 0);
            INDArray params = net.parameters();
            SplittableRandom rng = new SplittableRandom(99);
            StringBuilder report = new StringBuilder();
            int failures = 0;
            for (ParameterLayout.Entry e : net.layout().entries()) {
                INDArray view = ParameterInit.view(params, e);
                INDArray g = ParameterInit.view(grad, e);
                INDArray dir = Nd4j.create(DataType.FLOAT, e.shape());
                for (long i = 0; i < dir.length(); i++) dir.putScalar(i, rng.nextDouble() * 2 - 1);
                double analytic = g.castTo(DataType.DOUBLE).mul(dir.castTo(DataType.DOUBLE)).sumNumber().doubleValue();
                if (e.name().startsWith("feature_extractor.")) analytic /= c.featureGradMult();
                double eps = 2e-3;
                INDArray saved = view.dup();
                view.addi(dir.mul(eps));
                double plus = net.evaluate(b).loss();
                view.assign(saved).subi(dir.mul(eps));
                double minus = net.evaluate(b).loss();
                view.assign(saved);
                double numeric = (plus - minus) / (2 * eps);
                double tol = 0.02 * Math.abs(analytic) + 0.05;
                boolean ok = Math.abs(numeric - analytic) <= tol;
                if (!ok) failures++;
                report.append(String.format("%s %-55s analytic %12.5f numeric %12.5f%n", ok ? "  " : "XX", e.name(), analytic, numeric));
            }
            System.out.print(report);
            assertTrue(failures == 0, failures + " gradient mismatches:\n" + report);
        }
    }
}
