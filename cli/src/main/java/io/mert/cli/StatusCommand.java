package io.mert.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "status", mixinStandardHelpOptions = true,
        description = "Where a run stands: asks a coordinator started with --http for its /status and prints it.")
final class StatusCommand implements Callable<Integer> {

    @Option(names = "--coordinator", required = true, description = "the coordinator's --http HOST:PORT")
    String coordinator;

    @Option(names = "--json", description = "print the raw JSON")
    boolean json;

    @Override
    public Integer call() throws Exception {
        HostPort hp = HostPort.parse(coordinator);
        HttpResponse<String> r;
        try {
            r = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build().send(
                    HttpRequest.newBuilder(URI.create("http://" + hp.host() + ":" + hp.port() + "/status"))
                            .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("no answer from " + coordinator + " (" + e.getMessage()
                    + "); is the coordinator running with --http " + coordinator + "?");
        }
        if (r.statusCode() != 200) {
            throw new IllegalArgumentException(coordinator + "/status answered " + r.statusCode() + ": " + r.body().strip()
                    + " (is this a coordinator? workers have no /status)");
        }
        if (json) {
            System.out.println(r.body());
            return 0;
        }
        JsonNode s = new ObjectMapper().readTree(r.body());
        System.out.printf(Locale.ROOT, "state       %s%n", s.path("state").asText());
        System.out.printf(Locale.ROOT, "step        %d / %d%n", s.path("step").asLong(), s.path("max_update").asLong());
        if (s.has("loss")) System.out.printf(Locale.ROOT, "loss        %.4f   (lr %.3g, grad norm %.3g)%n",
                s.path("loss").asDouble(), s.path("lr").asDouble(), s.path("grad_norm").asDouble());
        if (s.has("samples_per_s")) System.out.printf(Locale.ROOT, "throughput  %.2f samples/s%n", s.path("samples_per_s").asDouble());
        System.out.printf(Locale.ROOT, "generation  %d, %d worker(s): %s%n", s.path("generation").asLong(),
                s.path("members").size(), s.path("members").toString());
        if (s.has("eta_s") && Double.isFinite(s.path("eta_s").asDouble())) {
            long eta = Math.round(s.path("eta_s").asDouble());
            System.out.printf(Locale.ROOT, "eta         %dh%02dm%02ds%n", eta / 3600, eta / 60 % 60, eta % 60);
        }
        return 0;
    }
}
