package io.mert.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** The PNG decodes, has the promised size, and the curves and the world-size marker are drawn where they belong. */
class PlotCommandTest {

    @Test
    void curvesAndAWorldSizeMarker(@TempDir Path run) throws Exception {
        StringBuilder lines = new StringBuilder();
        for (int s = 1; s <= 40; s++) {
            lines.append(String.format(java.util.Locale.ROOT,
                    "{\"step\":%d,\"loss\":%.3f,\"masked_accuracy\":[%.3f],\"samples_per_s\":%.1f,\"world_size\":%d}%n",
                    s, 5.0 - s * 0.1, s / 80.0, 10.0 + (s > 20 ? 5 : 0), s > 20 ? 3 : 2));
        }
        Files.writeString(run.resolve("metrics.jsonl"), lines + "{\"step\":41,\"lo"); // a half-written last line is ignored
        assertEquals(0, Mert.execute("plot", "--run-dir", run.toString()));
        BufferedImage img = ImageIO.read(run.resolve("curves.png").toFile());
        assertEquals(PlotCommand.WIDTH, img.getWidth());
        assertEquals(3 * PlotCommand.PANEL + PlotCommand.MARGIN, img.getHeight());
        // the loss falls from top left to bottom right of the first panel: blue pixels near both corners
        int top = PlotCommand.MARGIN / 2, left = PlotCommand.MARGIN, right = PlotCommand.WIDTH - 20;
        assertTrue(hasBlue(img, left, left + 15, top + 18, top + 60), "loss starts high");
        assertTrue(hasBlue(img, right - 15, right, top + PlotCommand.PANEL - 80, top + PlotCommand.PANEL - 40), "and ends low");
        // the world size changes at step 21: a grey dashed line at that x
        int x = (int) Math.round(left + (21 - 1) * (right - left) / 39.0);
        int grey = 0;
        for (int y = top + 20; y < top + PlotCommand.PANEL - 45; y++) {
            int rgb = img.getRGB(x, y) & 0xffffff;
            int r = rgb >> 16, g = (rgb >> 8) & 0xff, b = rgb & 0xff;
            if (r == g && g == b && r > 60 && r < 200) grey++;
        }
        assertTrue(grey > 20, "dashed world-size marker at step 21: " + grey + " grey pixels");
        assertEquals(1, Mert.execute("plot", "--run-dir", run.resolve("nothing").toString()), "not a run directory");
    }

    private static boolean hasBlue(BufferedImage img, int x0, int x1, int y0, int y1) {
        for (int x = x0; x < x1; x++) {
            for (int y = y0; y < y1; y++) {
                int rgb = img.getRGB(x, y) & 0xffffff;
                if ((rgb & 0xff) > 150 && (rgb >> 16) < 120) return true;
            }
        }
        return false;
    }
}
