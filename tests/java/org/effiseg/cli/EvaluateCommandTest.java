package org.effiseg.cli;

import static com.google.common.truth.Truth.assertThat;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code effiseg evaluate} end to end on tiny generated masks. */
class EvaluateCommandTest {
  @TempDir Path root;
  private Path data;
  private Path preds;
  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  /** Writes an 8x8 grey PNG/JPEG whose columns [x0, x1) are {@code value}, the rest 0. */
  private static void mask(Path file, int size, int x0, int x1, int value) throws IOException {
    BufferedImage img = new BufferedImage(size, size, BufferedImage.TYPE_BYTE_GRAY);
    for (int y = 0; y < size; y++) {
      for (int x = x0; x < x1; x++) {
        img.getRaster().setSample(x, y, 0, value);
      }
    }
    String name = file.getFileName().toString();
    Files.createDirectories(file.getParent());
    ImageIO.write(img, name.substring(name.lastIndexOf('.') + 1), file.toFile());
  }

  @BeforeEach
  void dataset() throws IOException {
    data = root.resolve("data");
    preds = root.resolve("preds");
    // image 1: GT columns 0..3, prediction 0..3 (perfect)
    // image 2: GT columns 0..3, prediction 2..5 at grey 200: TP 16, FP 16, FN 16 -> Dice 0.5
    mask(data.resolve("test/masks/1.png"), 8, 0, 4, 255);
    mask(data.resolve("test/masks/2.png"), 8, 0, 4, 255);
    mask(preds.resolve("1.png"), 8, 0, 4, 255);
    mask(preds.resolve("2.bmp"), 8, 2, 6, 200);
  }

  private int run(String... args) {
    CommandLine cl = Main.commandLine();
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(err, true));
    return cl.execute(args);
  }

  private String[] args(String... extra) {
    String[] base = {"evaluate", "--predictions", preds.toString(), "--data", data.toString()};
    String[] all = new String[base.length + extra.length];
    System.arraycopy(base, 0, all, 0, base.length);
    System.arraycopy(extra, 0, all, base.length, extra.length);
    return all;
  }

  @Test
  void jsonIsExactlyOneObjectWithTheAgreedKeys() {
    assertThat(run(args("--split", "test", "--json"))).isEqualTo(0);
    String stdout = out.toString().strip();
    assertThat(stdout.lines().count()).isEqualTo(1);
    JsonObject o = JsonParser.parseString(stdout).getAsJsonObject();
    assertThat(o.keySet())
        .containsExactly("split", "images", "dice", "iou", "precision", "recall", "f1")
        .inOrder();
    assertThat(o.get("split").getAsString()).isEqualTo("test");
    assertThat(o.get("images").getAsInt()).isEqualTo(2);
    assertThat(o.get("dice").getAsDouble()).isWithin(1e-12).of((1 + 0.5) / 2);
    assertThat(o.get("iou").getAsDouble()).isWithin(1e-12).of((1 + 1.0 / 3) / 2);
    assertThat(o.get("precision").getAsDouble()).isWithin(1e-12).of(48.0 / 64);
    assertThat(o.get("recall").getAsDouble()).isWithin(1e-12).of(48.0 / 64);
    assertThat(o.get("f1").getAsDouble()).isWithin(1e-12).of(0.75);
    assertThat(err.toString()).isEmpty();
  }

  @Test
  void thresholdAppliesToGreyLevels() {
    // 200/255 = 0.78: foreground at 0.5, background at 0.8, so image 2 predicts nothing
    assertThat(run(args("--json", "--threshold", "0.8"))).isEqualTo(0);
    JsonObject o = JsonParser.parseString(out.toString()).getAsJsonObject();
    assertThat(o.get("dice").getAsDouble()).isWithin(1e-12).of(0.5);
    assertThat(o.get("precision").getAsDouble()).isEqualTo(1.0);
  }

  @Test
  void plainOutputIsATable() {
    assertThat(run(args())).isEqualTo(0);
    String s = out.toString();
    assertThat(s).contains("split test: 2 images");
    assertThat(s).containsMatch("Dice\\s+0\\.7500");
    assertThat(s).containsMatch("IoU\\s+0\\.6667");
    assertThat(s).containsMatch("F1\\s+0\\.7500");
    assertThat(s).contains("errors by polyp size");
    assertThat(s).containsMatch("within 5 px of the boundary\\s+16 ");
  }

  @Test
  void missingPredictionNamesTheFile() throws IOException {
    Files.delete(preds.resolve("2.bmp"));
    assertThat(run(args("--json"))).isEqualTo(1);
    assertThat(out.toString()).isEmpty();
    assertThat(err.toString()).contains("missing prediction");
    assertThat(err.toString()).contains("2.png");
  }

  @Test
  void sizeMismatchIsAnErrorUnlessResizing() throws IOException {
    Files.delete(preds.resolve("2.bmp"));
    mask(preds.resolve("2.png"), 16, 4, 12, 255); // 16x16, columns 4..11 -> 8x8 columns 2..5
    assertThat(run(args("--json"))).isEqualTo(1);
    assertThat(err.toString()).contains("size mismatch");
    assertThat(err.toString()).contains("2.png");

    StringWriter again = new StringWriter();
    CommandLine cl = Main.commandLine();
    cl.setOut(new PrintWriter(again, true));
    cl.setErr(new PrintWriter(new StringWriter(), true));
    assertThat(cl.execute(args("--json", "--resize-nearest"))).isEqualTo(0);
    JsonObject o = JsonParser.parseString(again.toString()).getAsJsonObject();
    assertThat(o.get("dice").getAsDouble()).isWithin(1e-12).of(0.75);
  }

  @Test
  void emptyPredictionFolderIsBadInput() throws IOException {
    Path empty = Files.createDirectory(root.resolve("empty"));
    CommandLine cl = Main.commandLine();
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(err, true));
    int rc = cl.execute("evaluate", "--predictions", empty.toString(), "--data", data.toString());
    assertThat(rc).isEqualTo(1);
    assertThat(err.toString()).contains("no prediction masks in");
  }

  @Test
  void emptyGroundTruthFolderIsBadInput() throws IOException {
    Files.createDirectories(data.resolve("validation/masks"));
    assertThat(run(args("--split", "validation"))).isEqualTo(1);
    assertThat(err.toString()).contains("no ground-truth masks in");
  }

  @Test
  void missingSplitIsBadInput() {
    assertThat(run(args("--split", "nope"))).isEqualTo(1);
    assertThat(err.toString()).contains("nope");
  }

  @Test
  void usageErrorsExitTwo() {
    assertThat(run(args("--threshold", "1.5"))).isEqualTo(2);
    assertThat(err.toString()).contains("--threshold");
    assertThat(run("evaluate", "--data", data.toString())).isEqualTo(2); // no --predictions
    assertThat(run(args("--no-such-flag"))).isEqualTo(2);
  }

  @Test
  void writesAReport() throws IOException {
    Path report = root.resolve("out/report.html");
    Path log = root.resolve("epochs.csv");
    Files.writeString(log, "epoch,train_loss,val_dice\n1,0.9,0.5\n2,0.5,0.7\n");
    mask(data.resolve("test/images/2.jpg"), 8, 0, 8, 180); // only image 2 has its input image
    assertThat(
            run(
                args(
                    "--json",
                    "--report",
                    report.toString(),
                    "--train-log",
                    log.toString(),
                    "--worst",
                    "1")))
        .isEqualTo(0);
    JsonParser.parseString(out.toString()); // stdout still only the JSON
    assertThat(err.toString()).contains("report written");
    String html = Files.readString(report);
    assertThat(html).contains("<svg");
    assertThat(html).contains("data:image/png;base64,");
    assertThat(html).contains("The 1 worst images");
    assertThat(html).contains("<b>#1 2</b>"); // Dice 0.5, the worse of the two
    assertThat(html).contains("<img class=\"input\" alt=\"image 2\"");
  }

  @Test
  void trainLogWithoutReportIsAUsageError() throws IOException {
    Path log = Files.writeString(root.resolve("epochs.csv"), "epoch\n1\n");
    assertThat(run(args("--train-log", log.toString()))).isEqualTo(2);
  }

  @Test
  void extraPredictionsAreNotedButNotScored() throws IOException {
    mask(preds.resolve("99.png"), 8, 0, 8, 255);
    assertThat(run(args("--json"))).isEqualTo(0);
    assertThat(JsonParser.parseString(out.toString()).getAsJsonObject().get("images").getAsInt())
        .isEqualTo(2);
    assertThat(err.toString()).contains("99.png");
  }
}
