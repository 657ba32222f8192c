package io.mert.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.mert.model.checkpoint.AtomicFiles;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.ToDoubleFunction;

@Command(name = "plot", mixinStandardHelpOptions = true,
        description = "PNG curves of a run from its metrics.jsonl: loss, masked accuracy and throughput against step, "
                + "with a dashed line wherever the world size changed.")
final class PlotCommand implements Callable<Integer> {

    private static final ObjectMapper JSON = new ObjectMapper();
    static final int WIDTH = 1000, PANEL = 260, MARGIN = 60;

    @Option(names = "--run-dir", required = true, description = "the run directory (holds metrics.jsonl)")
    Path runDir;

    @Option(names = "--out", description = "PNG to write (default: RUN/curves.png)")
    Path out;

    @Override
    public Integer call() throws Exception {
        Path metrics = runDir.resolve("metrics.jsonl");
        if (!Files.isRegularFile(metrics)) throw new IllegalArgumentException(runDir + " has no metrics.jsonl (is it a run directory?)");
        List<JsonNode> steps = new ArrayList<>();
        for (String line : Files.readAllLines(metrics)) {
            if (line.isBlank()) continue;
            try {
                steps.add(JSON.readTree(line));
            } catch (JsonProcessingException partial) {
                // the line a running trainer is writing
            }
        }
        if (steps.isEmpty()) throw new IllegalArgumentException(metrics + " has no completed step yet");
        Path target = out != null ? out : runDir.resolve("curves.png");
        BufferedImage image = render(steps);
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        ImageIO.write(image, "png", png);
        AtomicFiles.write(target, png.toByteArray());
        System.out.println("plot: " + steps.size() + " steps -> " + target);
        return 0;
    }

    static BufferedImage render(List<JsonNode> steps) {
        System.setProperty("java.awt.headless", "true");
        BufferedImage img = new BufferedImage(WIDTH, 3 * PANEL + MARGIN, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, img.getWidth(), img.getHeight());
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        panel(g, steps, 0, "loss", m -> m.path("loss").asDouble(Double.NaN), new Color(0x1f77b4));
        panel(g, steps, 1, "masked accuracy (stream 0)", PlotCommand::accuracy, new Color(0x2ca02c));
        panel(g, steps, 2, "samples / s", m -> m.path("samples_per_s").asDouble(Double.NaN), new Color(0xd62728));
        g.dispose();
        return img;
    }

    private static double accuracy(JsonNode m) {
        JsonNode a = m.path("masked_accuracy");
        if (a.isArray() && a.size() > 0) return a.get(0).asDouble();
        if (a.isNumber()) return a.asDouble();
        return Double.NaN;
    }

    private static void panel(Graphics2D g, List<JsonNode> steps, int row, String title, ToDoubleFunction<JsonNode> y, Color color) {
        int top = MARGIN / 2 + row * PANEL, left = MARGIN, right = WIDTH - 20, bottom = top + PANEL - 40;
        double minX = steps.get(0).path("step").asDouble(), maxX = steps.get(steps.size() - 1).path("step").asDouble();
        double minY = Double.POSITIVE_INFINITY, maxY = Double.NEGATIVE_INFINITY;
        for (JsonNode m : steps) {
            double v = y.applyAsDouble(m);
            if (Double.isFinite(v)) {
                minY = Math.min(minY, v);
                maxY = Math.max(maxY, v);
            }
        }
        g.setColor(Color.BLACK);
        g.drawString(title, left, top + 12);
        g.drawRect(left, top + 18, right - left, bottom - top - 18);
        if (!Double.isFinite(minY)) {
            g.drawString("(not in metrics.jsonl)", left + 10, top + 40);
            return;
        }
        if (maxY == minY) maxY = minY + 1;
        if (maxX == minX) maxX = minX + 1;
        g.drawString(String.format(Locale.ROOT, "%.4g", maxY), 2, top + 28);
        g.drawString(String.format(Locale.ROOT, "%.4g", minY), 2, bottom);
        g.drawString(String.format(Locale.ROOT, "step %.0f", minX), left, bottom + 14);
        g.drawString(String.format(Locale.ROOT, "step %.0f", maxX), right - 70, bottom + 14);
        double sx = (right - left) / (maxX - minX), sy = (bottom - top - 24) / (maxY - minY);
        // world-size changes: dashed verticals, labelled with the new size
        g.setColor(Color.GRAY);
        g.setStroke(new BasicStroke(1f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {4f, 4f}, 0f));
        int previous = steps.get(0).path("world_size").asInt();
        for (JsonNode m : steps) {
            int w = m.path("world_size").asInt();
            if (w != previous) {
                int x = (int) Math.round(left + (m.path("step").asDouble() - minX) * sx);
                g.drawLine(x, top + 18, x, bottom);
                g.drawString("world " + w, x + 3, top + 32);
                previous = w;
            }
        }
        g.setColor(color);
        g.setStroke(new BasicStroke(1.6f));
        int px = -1, py = -1;
        for (JsonNode m : steps) {
            double v = y.applyAsDouble(m);
            if (!Double.isFinite(v)) continue;
            int x = (int) Math.round(left + (m.path("step").asDouble() - minX) * sx);
            int yy = (int) Math.round(bottom - 3 - (v - minY) * sy);
            if (px >= 0) g.drawLine(px, py, x, yy);
            else g.fillRect(x - 1, yy - 1, 3, 3);
            px = x;
            py = yy;
        }
    }
}
