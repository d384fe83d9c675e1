package org.effiseg.cli;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.effiseg.api.Device;
import org.effiseg.api.Prediction;
import org.effiseg.api.Segmenter;
import org.effiseg.nativeapi.NativeMemory;
import org.effiseg.testing.Cli;
import org.effiseg.testing.Tolerance;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The user's path through the CLI on real Kvasir-SEG images: train (smoke preset), then
 * evaluate the checkpoint, predict masks, and embed the model through {@link Segmenter}.
 */
class TrainPredictCommandTest {
  private static final Path DATA =
      Path.of(System.getProperty("effiseg.shared", "../shared"), "data", "kvasir-seg");
  @TempDir static Path dir;
  private static Path run;
  private static String trainStdout;

  @BeforeAll
  static void trainSmokeModel() {
    run = dir.resolve("run");
    Cli.Outcome o = Cli.run("train", "--preset", "smoke", "--data", DATA.toString(), "--out", run.toString(),
        "--eval-split", "validation", "--threads", "2", "--json");
    assertWithMessage("exit code; stderr: %s", o.err()).that(o.exit()).isEqualTo(0);
    trainStdout = o.out();
  }

  @Test
  void trainPrintsBestAndLastScoresAsJsonAndWritesReports() throws Exception {
    JsonObject scores = JsonParser.parseString(trainStdout.trim()).getAsJsonObject();
    for (String which : List.of("best", "last", "best-tta-flip")) {
      JsonObject s = scores.getAsJsonObject(which);
      assertThat(s.get("split").getAsString()).isEqualTo("validation");
      assertThat(s.get("images").getAsInt()).isEqualTo(100);
      for (String metric : List.of("dice", "iou", "precision", "recall", "f1")) {
        assertThat(s.has(metric)).isTrue();
      }
      assertThat(Files.size(run.resolve("report-" + which + "-validation.html"))).isGreaterThan(10_000L);
    }
    assertThat(Files.readString(run.resolve("epochs.csv"))).startsWith("epoch,train_loss");
  }

  @Test
  void theBestTtaFlipEntryIsWhatEvaluateWithTtaFlipScores() throws Exception {
    JsonObject fromTrain = JsonParser.parseString(trainStdout.trim()).getAsJsonObject()
        .getAsJsonObject("best-tta-flip");
    Cli.Outcome o = Cli.run("evaluate", "--checkpoint", run.resolve("best.safetensors").toString(),
        "--data", DATA.toString(), "--split", "validation", "--threads", "2", "--tta", "flip", "--json");
    assertWithMessage("exit code; stderr: %s", o.err()).that(o.exit()).isEqualTo(0);
    JsonObject fromEvaluate = JsonParser.parseString(o.out().trim()).getAsJsonObject();
    assertThat(fromEvaluate.get("tta").getAsString()).isEqualTo("flip");
    for (String metric : List.of("dice", "iou", "precision", "recall", "f1")) {
      assertWithMessage(metric).that(fromTrain.get(metric)).isEqualTo(fromEvaluate.get(metric));
    }
    assertThat(Files.readString(run.resolve("report-best-tta-flip-validation.html")))
        .contains("test-time augmentation flip");
  }

  @Test
  void evaluateScoresTheCheckpointWithAllMetrics() throws Exception {
    Path report = dir.resolve("evaluate-report.html");
    Cli.Outcome o = Cli.run("evaluate", "--checkpoint", run.resolve("best.safetensors").toString(),
        "--data", DATA.toString(), "--split", "validation", "--threads", "2",
        "--report", report.toString(), "--train-log", run.resolve("epochs.csv").toString(),
        "--per-image", dir.resolve("per-image.csv").toString());
    assertThat(o.exit()).isEqualTo(0);
    assertThat(Files.readString(report)).contains("best.safetensors");
    List<String> rows = Files.readAllLines(dir.resolve("per-image.csv"));
    assertThat(rows.get(0)).isEqualTo("id,width,height,tp,fp,fn,tn,dice,iou,polyp_fraction");
    assertThat(rows).hasSize(101);
    for (String metric : List.of("Dice", "IoU", "precision", "recall", "F1")) {
      assertThat(o.out()).ignoringCase().contains(metric);
    }
  }

  @Test
  void predictWritesMasksAtTheOriginalSize() throws Exception {
    Path out = dir.resolve("predicted");
    Path image = DATA.resolve("test/images/0.jpg");
    Cli.Outcome o = Cli.run("predict", "--checkpoint", run.resolve("last.safetensors").toString(),
        "--out", out.toString(), "--overlays", "--probabilities", "--threads", "2", image.toString());
    assertThat(o.exit()).isEqualTo(0);
    BufferedImage source = ImageIO.read(image.toFile());
    BufferedImage mask = ImageIO.read(out.resolve("0.png").toFile());
    assertThat(mask.getWidth()).isEqualTo(source.getWidth());
    assertThat(mask.getHeight()).isEqualTo(source.getHeight());
    assertThat(Files.exists(out.resolve("0_prob.png"))).isTrue();
    assertThat(Files.exists(out.resolve("0_overlay.png"))).isTrue();
  }

  @Test
  void badInputFailsWithAMessageAndExitCode1() {
    Cli.Outcome missing = Cli.run("predict", "--checkpoint", dir.resolve("nope.safetensors").toString(),
        "--out", dir.resolve("x").toString(), DATA.resolve("test/images/0.jpg").toString());
    assertThat(missing.exit()).isEqualTo(1);
    assertThat(missing.err()).contains("nope.safetensors");

    Cli.Outcome resume = Cli.run("train", "--data", DATA.toString(), "--out", dir.resolve("empty").toString(), "--resume");
    assertThat(resume.exit()).isEqualTo(1);
    assertThat(resume.err()).contains("config.json");

    Cli.Outcome overwrite = Cli.run("train", "--preset", "smoke", "--data", DATA.toString(), "--out", run.toString());
    assertThat(overwrite.exit()).isEqualTo(1);
    assertThat(overwrite.err()).contains("already exists");

    Cli.Outcome usage = Cli.run("train", "--preset", "smoke");
    assertThat(usage.exit()).isEqualTo(2);
  }

  /** The README's embedding example (examples/SegmentPolyps.java) compiles and runs. */
  @Test
  void embeddingExampleRuns() throws Exception {
    javax.tools.JavaCompiler javac = javax.tools.ToolProvider.getSystemJavaCompiler();
    Path classes = Files.createDirectories(dir.resolve("example-classes"));
    int rc = javac.run(null, null, null, "-d", classes.toString(), "-cp",
        System.getProperty("java.class.path"), "examples/SegmentPolyps.java");
    assertThat(rc).isEqualTo(0);
    Path out = dir.resolve("example-out");
    try (java.net.URLClassLoader loader = new java.net.URLClassLoader(
        new java.net.URL[] {classes.toUri().toURL()}, getClass().getClassLoader())) {
      loader.loadClass("SegmentPolyps").getMethod("main", String[].class).invoke(null,
          (Object) new String[] {run.resolve("best.safetensors").toString(), out.toString(),
              DATA.resolve("test/images/2.jpg").toString()});
    }
    assertThat(Files.exists(out.resolve("2-mask.png"))).isTrue();
    assertThat(Files.exists(out.resolve("2-overlay.png"))).isTrue();
  }

  @Test
  void segmenterPredictsProbabilitiesAndMasksAtTheImageSize() throws Exception {
    long handles = NativeMemory.liveHandles();
    BufferedImage image = ImageIO.read(DATA.resolve("validation/images/1.jpg").toFile());
    BufferedImage small = new BufferedImage(97, 61, BufferedImage.TYPE_INT_RGB);
    small.getGraphics().drawImage(image, 0, 0, 97, 61, null);
    try (Segmenter segmenter = Segmenter.builder(run.resolve("best.safetensors")).device(Device.CPU).threads(2).build()) {
      assertThat(segmenter.inputSize()).isEqualTo(64);
      List<Prediction> predictions = segmenter.predict(List.of(image, small));
      assertThat(predictions.get(0).width()).isEqualTo(image.getWidth());
      assertThat(predictions.get(1).width()).isEqualTo(97);
      assertThat(predictions.get(1).height()).isEqualTo(61);
      for (float p : predictions.get(1).probabilities()) {
        assertThat(p).isAtLeast(0f);
        assertThat(p).isAtMost(1f);
      }
      // alone instead of in a batch of two: GEMM blocking may round differently, nothing more
      Prediction again = segmenter.predict(small);
      Tolerance.assertClose("batch of 1 vs 2", again.probabilities(), predictions.get(1).probabilities(), 1e-5, 0);
      assertThat(again.maskImage().getWidth()).isEqualTo(97);
    }
    assertThat(NativeMemory.liveHandles()).isEqualTo(handles);
  }
}
