package io.mert.protocol.pekko;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * How a node's cluster connections are protected: mutual TLS from a cluster CA (Artery {@code tls-tcp}),
 * or plain TCP when the user asked for it.
 */
public sealed interface TransportSecurity {

    /** The files {@code mert certs} writes into a TLS directory. */
    String KEY_STORE = "node.p12";
    String TRUST_STORE = "truststore.p12";
    String PASSWORD = "password";

    /** The Artery settings for this choice, to put in front of a node's config. */
    Config config();

    record Plaintext() implements TransportSecurity {
        @Override
        public Config config() {
            return ConfigFactory.parseString("pekko.remote.artery.transport = tcp");
        }
    }

    /**
     * TLS 1.3 both ways: a node presents {@code keyStore}'s certificate and accepts a peer only when the
     * peer's certificate chains to a CA in {@code trustStore}. Host names are not checked (pods come and go
     * with new addresses); the cluster CA is what makes a peer a member.
     */
    record MutualTls(Path keyStore, Path trustStore, String password) implements TransportSecurity {
        @Override
        public Config config() {
            String p = "pekko.remote.artery.ssl.config-ssl-engine.";
            return ConfigFactory.parseString(String.join("\n",
                            "pekko.remote.artery.transport = tls-tcp",
                            "pekko.remote.artery.ssl.ssl-engine-provider = \"org.apache.pekko.remote.artery.tcp.ConfigSSLEngineProvider\"",
                            p + "protocol = \"TLSv1.3\"",
                            p + "enabled-algorithms = [\"TLS_AES_256_GCM_SHA384\", \"TLS_AES_128_GCM_SHA256\"]",
                            p + "require-mutual-authentication = on",
                            p + "hostname-verification = off"))
                    .withValue(p + "key-store", ConfigValueFactory.fromAnyRef(keyStore.toAbsolutePath().toString()))
                    .withValue(p + "trust-store", ConfigValueFactory.fromAnyRef(trustStore.toAbsolutePath().toString()))
                    .withValue(p + "key-store-password", ConfigValueFactory.fromAnyRef(password))
                    .withValue(p + "key-password", ConfigValueFactory.fromAnyRef(password))
                    .withValue(p + "trust-store-password", ConfigValueFactory.fromAnyRef(password));
        }

        /** Reads a directory written by {@code mert certs}; says what is missing when it is incomplete. */
        public static MutualTls fromDirectory(Path dir) {
            for (String f : List.of(KEY_STORE, TRUST_STORE, PASSWORD)) {
                if (!Files.isRegularFile(dir.resolve(f))) {
                    throw new IllegalArgumentException("TLS directory " + dir + " has no " + f
                            + " (make one with `mert certs --out " + dir + "`, or mount the cluster's certificate Secret there)");
                }
            }
            try {
                String password = Files.readString(dir.resolve(PASSWORD), StandardCharsets.UTF_8).strip();
                if (password.isEmpty()) throw new IllegalArgumentException(dir.resolve(PASSWORD) + " is empty");
                return new MutualTls(dir.resolve(KEY_STORE), dir.resolve(TRUST_STORE), password);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + dir.resolve(PASSWORD), e);
            }
        }
    }
}
