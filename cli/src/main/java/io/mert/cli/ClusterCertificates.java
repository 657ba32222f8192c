package io.mert.cli;

import io.mert.protocol.pekko.TransportSecurity;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A cluster CA and a node certificate it signs, made with the JDK's own {@code keytool} (no extra
 * crypto library): EC P-256 keys, PKCS#12 stores, one random password. The directory it writes is
 * what {@link TransportSecurity.MutualTls#fromDirectory} reads, plus {@code ca.p12} (the CA's private
 * key: keep it off the nodes) and {@code ca.crt}.
 */
final class ClusterCertificates {

    static final String CA_STORE = "ca.p12";
    static final String CA_CERT = "ca.crt";

    private final String keytool;

    ClusterCertificates() {
        this.keytool = Path.of(System.getProperty("java.home"), "bin", "keytool").toString();
    }

    /**
     * Writes a new CA and node certificate into {@code out}, which must not exist or be empty; the files
     * appear together (built in a sibling temp directory, then renamed).
     *
     * @param subjectAltNames keytool SAN entries such as {@code dns:mert-coordinator-0.mert} or {@code ip:10.0.0.5}
     */
    void create(Path out, List<String> subjectAltNames, int validityDays) throws IOException, InterruptedException {
        if (Files.isDirectory(out)) {
            try (var s = Files.list(out)) {
                if (s.findAny().isPresent()) {
                    throw new IllegalArgumentException(out + " is not empty; certificates are never overwritten (choose a new --out)");
                }
            }
        } else if (Files.exists(out)) {
            throw new IllegalArgumentException(out + " exists and is not a directory");
        }
        Path parent = out.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path tmp = Files.createTempDirectory(parent, "." + out.getFileName() + ".tmp");
        try {
            Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwx------"));
            String password = randomPassword();
            Path pw = tmp.resolve(TransportSecurity.PASSWORD);
            Files.writeString(pw, password + "\n", StandardCharsets.UTF_8);
            String days = Integer.toString(validityDays);
            String ca = tmp.resolve(CA_STORE).toString();
            String node = tmp.resolve(TransportSecurity.KEY_STORE).toString();
            String trust = tmp.resolve(TransportSecurity.TRUST_STORE).toString();
            String caCert = tmp.resolve(CA_CERT).toString();
            String csr = tmp.resolve("node.csr").toString();
            String nodeCert = tmp.resolve("node.crt").toString();
            String pwFile = pw.toString(); // keytool reads the password from the file, never from the command line

            keytool("-genkeypair", "-alias", "ca", "-keyalg", "EC", "-groupname", "secp256r1",
                    "-dname", "CN=mert-trainer cluster CA", "-ext", "bc:c", "-validity", days,
                    "-keystore", ca, "-storetype", "PKCS12", "-storepass:file", pwFile);
            keytool("-exportcert", "-rfc", "-alias", "ca", "-keystore", ca, "-storepass:file", pwFile, "-file", caCert);
            keytool("-importcert", "-noprompt", "-alias", "ca", "-file", caCert,
                    "-keystore", trust, "-storetype", "PKCS12", "-storepass:file", pwFile);
            keytool("-genkeypair", "-alias", "node", "-keyalg", "EC", "-groupname", "secp256r1",
                    "-dname", "CN=mert-trainer node", "-validity", days,
                    "-keystore", node, "-storetype", "PKCS12", "-storepass:file", pwFile);
            keytool("-certreq", "-alias", "node", "-keystore", node, "-storepass:file", pwFile, "-file", csr);
            List<String> sign = new ArrayList<>(List.of("-gencert", "-rfc", "-alias", "ca", "-keystore", ca,
                    "-storepass:file", pwFile, "-infile", csr, "-outfile", nodeCert, "-validity", days,
                    "-ext", "ku:c=digitalSignature,keyAgreement", "-ext", "eku=serverAuth,clientAuth"));
            if (!subjectAltNames.isEmpty()) {
                sign.add("-ext");
                sign.add("san=" + String.join(",", subjectAltNames));
            }
            keytool(sign.toArray(String[]::new));
            keytool("-importcert", "-noprompt", "-alias", "ca", "-file", caCert, "-keystore", node, "-storepass:file", pwFile);
            keytool("-importcert", "-alias", "node", "-file", nodeCert, "-keystore", node, "-storepass:file", pwFile);
            Files.delete(Path.of(csr));
            for (String f : List.of(CA_STORE, TransportSecurity.KEY_STORE, TransportSecurity.PASSWORD)) {
                Files.setPosixFilePermissions(tmp.resolve(f), PosixFilePermissions.fromString("rw-------"));
            }
            if (Files.isDirectory(out)) Files.delete(out); // empty, checked above
            Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            if (Files.exists(tmp)) {
                try (var s = Files.walk(tmp)) {
                    s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                }
            }
        }
    }

    private void keytool(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(keytool);
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        byte[] output = p.getInputStream().readAllBytes();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("keytool " + args[0] + " did not finish within 60 s");
        }
        if (p.exitValue() != 0) {
            throw new IOException("keytool " + args[0] + " failed (exit " + p.exitValue() + "): "
                    + new String(output, StandardCharsets.UTF_8).strip());
        }
    }

    private static String randomPassword() {
        byte[] b = new byte[24];
        new SecureRandom().nextBytes(b);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    }
}
