package io.mert.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "certs", mixinStandardHelpOptions = true,
        description = {"Make a cluster CA and a node certificate for mutual TLS between mert nodes (quick start).",
                "Every node gets node.p12, truststore.p12 and password (e.g. as a Kubernetes Secret) and runs with "
                        + "--tls-dir; keep ca.p12 (the CA's private key) off the nodes."})
final class CertsCommand implements Callable<Integer> {

    @Option(names = "--out", required = true, description = "new directory for the certificates")
    Path out;

    @Option(names = "--san", split = ",", description = "subject alternative names, e.g. dns:mert-coordinator-0.mert,ip:10.0.0.5 "
            + "(informational: nodes authenticate by the CA, not by host name)")
    List<String> subjectAltNames = new ArrayList<>();

    @Option(names = "--days", defaultValue = "825", description = "validity in days (default ${DEFAULT-VALUE})")
    int days;

    @Override
    public Integer call() throws Exception {
        if (days < 1) throw new IllegalArgumentException("--days must be >= 1, got " + days);
        new ClusterCertificates().create(out, subjectAltNames, days);
        System.out.println("wrote a cluster CA and a node certificate to " + out);
        System.out.println("  nodes need: node.p12 truststore.p12 password  (run them with --tls-dir DIR)");
        System.out.println("  keep safe:  ca.p12 (the CA's private key; not needed by any node)");
        System.out.println("  Kubernetes: kubectl create secret generic mert-tls --from-file=" + out.resolve("node.p12")
                + " --from-file=" + out.resolve("truststore.p12") + " --from-file=" + out.resolve("password"));
        return 0;
    }
}
