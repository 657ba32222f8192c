package io.mert.cli;

import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A Linux network namespace joined to the host by a veth pair: the host end has {@link #hostAddress()},
 * the namespace end {@link #namespaceAddress()} (a /24 of 10.213.0.0/16). {@link #cut()} takes the
 * namespace end down: the host end loses its carrier, so packets either way are dropped (a blackhole,
 * as behind a failed switch). Taking the host end down instead would remove the host's route to the
 * namespace and send its packets to the default gateway. Needs root and iproute2.
 */
final class NetworkNamespace implements AutoCloseable {

    private final String name;
    private final String hostVeth;
    private final String namespaceVeth;
    private final String subnet;

    private NetworkNamespace(long id) {
        this.name = "mert-" + id;
        this.hostVeth = "mh" + id;
        this.namespaceVeth = "mn" + id;
        this.subnet = "10.213." + (20 + id % 200);
    }

    /** Creates one for this JVM (leftovers of an earlier JVM with the same pid are deleted first); skips the test where it cannot. */
    static NetworkNamespace createOrSkip() throws Exception {
        Assumptions.assumeTrue(uid() == 0,
                "network namespaces need root (ip netns add); this test runs as uid " + uid());
        Assumptions.assumeTrue(run(List.of("ip", "-V")).exit == 0, "iproute2's `ip` is not on the PATH");
        Assumptions.assumeTrue(run(List.of("curl", "--version")).exit == 0, "curl (to scrape a worker inside the namespace) is not on the PATH");
        NetworkNamespace ns = new NetworkNamespace(ProcessHandle.current().pid());
        ns.deleteLeftovers();
        Result added = run(List.of("ip", "netns", "add", ns.name));
        Assumptions.assumeTrue(added.exit == 0, "cannot create a network namespace: " + added.output);
        try {
            ns.ip("link", "add", ns.hostVeth, "type", "veth", "peer", "name", ns.namespaceVeth);
            ns.ip("link", "set", ns.namespaceVeth, "netns", ns.name);
            ns.ip("addr", "add", ns.hostAddress() + "/24", "dev", ns.hostVeth);
            ns.ip("link", "set", ns.hostVeth, "up");
            ns.inside("ip", "addr", "add", ns.namespaceAddress() + "/24", "dev", ns.namespaceVeth);
            ns.inside("ip", "link", "set", ns.namespaceVeth, "up");
            ns.inside("ip", "link", "set", "lo", "up");
        } catch (Exception | AssertionError e) {
            ns.close();
            throw e;
        }
        return ns;
    }

    String hostAddress() {
        return subnet + ".1";
    }

    String namespaceAddress() {
        return subnet + ".2";
    }

    /** The command prefix that runs a program inside the namespace. */
    List<String> exec() {
        return List.of("ip", "netns", "exec", name);
    }

    void cut() throws Exception {
        inside("ip", "link", "set", namespaceVeth, "down");
    }

    void heal() throws Exception {
        inside("ip", "link", "set", namespaceVeth, "up");
    }

    /** Runs {@code command} inside the namespace; returns its output (fails the test on a non-zero exit). */
    String inside(String... command) throws Exception {
        List<String> cmd = new ArrayList<>(exec());
        cmd.addAll(List.of(command));
        return check(cmd);
    }

    @Override
    public void close() throws Exception {
        deleteLeftovers();
    }

    private void deleteLeftovers() throws Exception {
        run(List.of("ip", "link", "del", hostVeth)); // deletes its peer too, wherever it is
        run(List.of("ip", "netns", "del", name)); // and a namespace deletes the veth ends inside it
    }

    private void ip(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("ip"));
        cmd.addAll(List.of(args));
        check(cmd);
    }

    private static String check(List<String> cmd) throws Exception {
        Result r = run(cmd);
        if (r.exit != 0) throw new AssertionError(String.join(" ", cmd) + " exited with " + r.exit + ": " + r.output);
        return r.output;
    }

    private record Result(int exit, String output) {
    }

    private static Result run(List<String> cmd) throws Exception {
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        } catch (IOException notFound) {
            return new Result(127, notFound.getMessage());
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return new Result(124, out);
        }
        return new Result(p.exitValue(), out);
    }

    private static int uid() {
        try {
            Result r = run(List.of("id", "-u"));
            return r.exit == 0 ? Integer.parseInt(r.output.trim()) : -1;
        } catch (Exception e) {
            return -1;
        }
    }
}
