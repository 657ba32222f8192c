package io.mert.allreduce;

import io.aeron.Aeron;
import io.aeron.exceptions.DriverTimeoutException;
import org.junit.jupiter.api.Test;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;

class AeronClientsTest {

    /**
     * Aeron's default error handler calls System.exit when the driver goes quiet; ours hands the loss to
     * the caller. Were the JVM to exit here, surefire would report this test's fork as crashed.
     */
    @Test
    void aLostDriverIsReportedToTheCallerInsteadOfEndingTheProcess() throws Exception {
        CompletableFuture<Throwable> lost = new CompletableFuture<>();
        EmbeddedDriver driver = EmbeddedDriver.launch();
        Aeron client = AeronClients.connect(driver.aeronDirectoryName(), 1_000, lost::complete);
        try {
            driver.close(); // its heartbeats stop
            assertInstanceOf(DriverTimeoutException.class, lost.get(30, TimeUnit.SECONDS));
        } finally {
            client.close();
        }
    }
}
