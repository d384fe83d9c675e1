// `effiseg augment-preview`: writes a deterministic PNG grid, and refuses bad datasets with a
// non-zero exit and a message naming the bad file.
package org.effiseg.cli;

import static com.google.common.truth.Truth.assertThat;

import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.effiseg.data.Split;
import org.effiseg.data.SyntheticData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class AugmentPreviewCommandTest {
  @TempDir Path dir;

  private record Result(int exitCode, String out, String err) {}

  private static Result run(String... args) {
    CommandLine commandLine = Main.commandLine();
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    commandLine.setOut(new PrintWriter(out));
    commandLine.setErr(new PrintWriter(err));
    int code = commandLine.execute(args);
    return new Result(code, out.toString(), err.toString());
  }

  private Result preview(Path root, String seed, Path png) {
    return run("augment-preview", "--data", root.toString(), "--split", "train", "--preset",
        "original+black-rect", "--count", "5", "--seed", seed, "--size", "48", "--out",
        png.toString());
  }

  @Test
  void sameSeedWritesTheSamePngBytes() throws Exception {
    Path root = SyntheticData.dataset(dir.resolve("data"), Split.TRAIN, 6, 40);
    Result first = preview(root, "11", dir.resolve("a.png"));
    assertThat(first.exitCode()).isEqualTo(0);
    assertThat(first.out()).contains("a.png");
    assertThat(preview(root, "11", dir.resolve("b.png")).exitCode()).isEqualTo(0);
    assertThat(preview(root, "12", dir.resolve("c.png")).exitCode()).isEqualTo(0);
    byte[] a = Files.readAllBytes(dir.resolve("a.png"));
    assertThat(Files.readAllBytes(dir.resolve("b.png"))).isEqualTo(a);
    assertThat(Files.readAllBytes(dir.resolve("c.png"))).isNotEqualTo(a);
    BufferedImage grid = ImageIO.read(dir.resolve("a.png").toFile());
    assertThat(grid.getWidth()).isEqualTo(3 * 48 + 4 * 4); // 5 samples: 3 columns, 2 rows
    assertThat(grid.getHeight()).isEqualTo(2 * 48 + 3 * 4);
  }

  @Test
  void badDatasetExitsNonZeroNamingTheFile() throws Exception {
    Path root = SyntheticData.dataset(dir.resolve("data"), Split.TRAIN, 3, 40);
    Path mask = root.resolve("train/masks/2.jpg");
    Files.delete(mask);
    Result result = preview(root, "1", dir.resolve("out.png"));
    assertThat(result.exitCode()).isEqualTo(1);
    assertThat(result.err()).contains(root.resolve("train/images/2.jpg").toString());
    assertThat(Files.exists(dir.resolve("out.png"))).isFalse();
  }

  @Test
  void skipBadReportsEachSkippedPairAndStillWrites() throws Exception {
    Path root = SyntheticData.dataset(dir.resolve("data"), Split.TRAIN, 3, 40);
    Files.writeString(root.resolve("train/images/notes.txt"), "x");
    Result result = run("augment-preview", "--data", root.toString(), "--count", "2", "--size",
        "32", "--skip-bad", "--out", dir.resolve("out.png").toString());
    assertThat(result.exitCode()).isEqualTo(0);
    assertThat(result.err()).contains("notes.txt");
  }

  @Test
  void unknownPresetIsRefused() {
    Result result = run("augment-preview", "--data", dir.toString(), "--preset", "fancy",
        "--out", dir.resolve("x.png").toString());
    assertThat(result.exitCode()).isEqualTo(1);
    assertThat(result.err()).contains("unknown preset 'fancy'");
  }
}
