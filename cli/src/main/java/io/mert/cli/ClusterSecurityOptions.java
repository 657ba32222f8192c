package io.mert.cli;

import io.mert.protocol.pekko.TransportSecurity;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Path;

/**
 * How a node that other hosts reach protects its cluster connections: mutual TLS from the directory
 * {@code mert certs} writes, or plain TCP only when asked for by name. Shared by every command that
 * serves or joins a cluster over the network.
 */
final class ClusterSecurityOptions {

    @Option(names = "--tls-dir", defaultValue = "${env:MERT_TLS_DIR}",
            description = "directory with node.p12, truststore.p12 and password (from `mert certs`): mutual TLS between nodes "
                    + "(default: $MERT_TLS_DIR)")
    Path tlsDir;

    @Option(names = "--insecure-plaintext",
            description = "cluster connections over plain TCP, unauthenticated: only on a network you trust entirely")
    boolean insecurePlaintext;

    /** The choice made on the command line; without one, an error that says how to make it. */
    TransportSecurity resolve(PrintStream out) {
        if (tlsDir != null && insecurePlaintext) {
            throw new IllegalArgumentException("--tls-dir and --insecure-plaintext exclude each other; choose one");
        }
        if (tlsDir != null) return TransportSecurity.MutualTls.fromDirectory(tlsDir);
        if (insecurePlaintext) {
            out.println("WARNING: --insecure-plaintext: cluster messages travel unencrypted and any host that reaches this "
                    + "port can join; use --tls-dir outside a trusted network");
            return new TransportSecurity.Plaintext();
        }
        throw new IllegalArgumentException("a node reachable from other hosts needs --tls-dir DIR (mutual TLS; make DIR with "
                + "`mert certs --out DIR` and give every node a copy) or, on a network you trust, --insecure-plaintext");
    }
}
