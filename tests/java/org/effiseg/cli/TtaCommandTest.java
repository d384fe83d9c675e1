package org.effiseg.cli;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.effiseg.api.Device;
import org.effiseg.api.Prediction;
import org.effiseg.api.Segmenter;
import org.effiseg.api.Tta;
import org.effiseg.model.EffiSegNet;
import org.effiseg.nativeapi.Context;
import org.effiseg.testing.Cli;
import org.effiseg.testing.ModelWeights;
import org.effiseg.testing.TinyRuns;
import org.effiseg.train.TrainConfig;
import org.effiseg.weights.Checkpoint;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --tta flip} on {@code evaluate} and {@code predict}: scores reported and written apart
 * from the plain ones, masks from the mean probability, the flag's values checked. The model is
 * {@link TinyRuns}' B0 at 32x32 with random weights, so that its probabilities vary over the image
 * and the mirrored views disagree.
 */
class TtaCommandTest {
  @TempDir static Path dir;
  static Path data;
  static Path checkpoint;

  @BeforeAll
  static void datasetAndRandomCheckpoint() throws IOException {
    data = TinyRuns.dataset(dir.resolve("data"));
    TrainConfig c = TinyRuns.config(1);
    checkpoint = dir.resolve("random.safetensors");
    try (Context ctx = Context.cpu(1);
        EffiSegNet model = EffiSegNet.create(ctx, c.modelConfig())) {
      Checkpoint.write(checkpoint, new Checkpoint(ModelWeights.randomize(model.stateDict(), 14), null, c.variant,
          c.toJson(), 1, 1, "{}", Map.of()));
    }
  }

  private static Cli.Outcome evaluate(Path out, String... more) {
    List<String> args = new java.util.ArrayList<>(List.of("evaluate", "--checkpoint", checkpoint.toString(),
        "--data", data.toString(), "--threads", "1", "--report", out.resolve("report.html").toString(),
        "--per-image", out.resolve("per-image.csv").toString()));
    args.addAll(List.of(more));
    return Cli.run(args.toArray(String[]::new));
  }

  private static List<String> files(Path folder) throws IOException {
    try (Stream<Path> list = Files.list(folder)) {
      return list.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  @Test
  void evaluateWithFlipWritesSeparatelyNamedScoresAndLeavesThePlainOnesUntouched() throws IOException {
    Path out = Files.createDirectories(dir.resolve("evaluate"));
    Cli.Outcome plain = evaluate(out, "--json");
    assertWithMessage("stderr: %s", plain.err()).that(plain.exit()).isEqualTo(0);
    JsonObject plainScores = JsonParser.parseString(plain.out().lines().findFirst().orElseThrow()).getAsJsonObject();
    assertThat(plainScores.has("tta")).isFalse();
    byte[] plainReport = Files.readAllBytes(out.resolve("report.html"));
    byte[] plainCsv = Files.readAllBytes(out.resolve("per-image.csv"));
    assertThat(new String(plainReport, java.nio.charset.StandardCharsets.UTF_8)).doesNotContain("test-time augmentation");

    Cli.Outcome table = evaluate(out, "--tta", "flip");
    assertWithMessage("stderr: %s", table.err()).that(table.exit()).isEqualTo(0);
    assertThat(table.out()).contains("test-time augmentation flip");
    assertThat(table.out()).contains("report written to " + out.resolve("report-tta-flip.html"));
    assertThat(table.out()).contains("per-image scores written to " + out.resolve("per-image-tta-flip.csv"));
    assertThat(files(out)).containsExactly("per-image-tta-flip.csv", "per-image.csv", "report-tta-flip.html",
        "report.html");
    assertThat(Files.readAllBytes(out.resolve("report.html"))).isEqualTo(plainReport);
    assertThat(Files.readAllBytes(out.resolve("per-image.csv"))).isEqualTo(plainCsv);
    assertThat(Files.readString(out.resolve("report-tta-flip.html"))).contains("test-time augmentation");
    // the same images scored, by another model: the per-image rows differ
    List<String> ttaRows = Files.readAllLines(out.resolve("per-image-tta-flip.csv"));
    assertThat(ttaRows.get(0)).isEqualTo(Files.readAllLines(out.resolve("per-image.csv")).get(0));
    assertThat(ttaRows).hasSize(3);
    assertThat(ttaRows).isNotEqualTo(Files.readAllLines(out.resolve("per-image.csv")));

    Cli.Outcome json = evaluate(out, "--tta", "flip", "--json");
    assertWithMessage("stderr: %s", json.err()).that(json.exit()).isEqualTo(0);
    JsonObject ttaScores = JsonParser.parseString(json.out().lines().findFirst().orElseThrow()).getAsJsonObject();
    assertThat(ttaScores.get("tta").getAsString()).isEqualTo("flip");
    assertThat(ttaScores.get("images").getAsInt()).isEqualTo(2);
    assertThat(files(out)).hasSize(4);
    assertThat(Files.readAllBytes(out.resolve("report.html"))).isEqualTo(plainReport);
    assertThat(Files.readAllBytes(out.resolve("per-image.csv"))).isEqualTo(plainCsv);
  }

  @Test
  void badModesAndFlipWithoutAModelAreUsageErrorsNamingTheFlag() throws IOException {
    Cli.Outcome evaluate = evaluate(Files.createDirectories(dir.resolve("bad")), "--tta", "nope");
    assertThat(evaluate.exit()).isEqualTo(2);
    assertThat(evaluate.err()).contains("Invalid value for option '--tta': none or flip, got 'nope'");
    assertThat(files(dir.resolve("bad"))).isEmpty();

    Cli.Outcome predictions = Cli.run("evaluate", "--predictions", data.resolve("test/masks").toString(),
        "--data", data.toString(), "--tta", "flip");
    assertThat(predictions.exit()).isEqualTo(2);
    assertThat(predictions.err()).contains("--tta flip needs --checkpoint");

    Cli.Outcome predict = Cli.run("predict", "--checkpoint", checkpoint.toString(), "--out",
        dir.resolve("bad-predict").toString(), "--tta", "nope", data.resolve("test/images/0.jpg").toString());
    assertThat(predict.exit()).isEqualTo(2);
    assertThat(predict.err()).contains("Invalid value for option '--tta': none or flip, got 'nope'");
    assertThat(Files.exists(dir.resolve("bad-predict"))).isFalse();
  }

  @Test
  void predictWithFlipWritesTheMasksAndProbabilitiesOfTheMean() throws IOException {
    Path image = data.resolve("test/images/1.jpg");
    Path plainOut = dir.resolve("predict-plain");
    Path ttaOut = dir.resolve("predict-tta");
    for (Path out : List.of(plainOut, ttaOut)) {
      List<String> args = new java.util.ArrayList<>(List.of("predict", "--checkpoint", checkpoint.toString(),
          "--out", out.toString(), "--probabilities", "--threads", "1", "--device", "cpu"));
      if (out == ttaOut) {
        args.addAll(List.of("--tta", "flip"));
      }
      args.add(image.toString());
      Cli.Outcome o = Cli.run(args.toArray(String[]::new));
      assertWithMessage("stderr: %s", o.err()).that(o.exit()).isEqualTo(0);
    }
    BufferedImage input = ImageIO.read(image.toFile());
    try (Segmenter flip = Segmenter.builder(checkpoint).device(Device.CPU).threads(1).tta(Tta.FLIP).build()) {
      Prediction p = flip.predict(image);
      assertThat(pixels(ImageIO.read(ttaOut.resolve("1.png").toFile()))).isEqualTo(pixels(p.maskImage()));
      assertThat(pixels(ImageIO.read(ttaOut.resolve("1_prob.png").toFile()))).isEqualTo(pixels(p.probabilityImage()));
      assertThat(p.width()).isEqualTo(input.getWidth());
    }
    assertThat(pixels(ImageIO.read(ttaOut.resolve("1_prob.png").toFile())))
        .isNotEqualTo(pixels(ImageIO.read(plainOut.resolve("1_prob.png").toFile())));
  }

  private static List<Integer> pixels(BufferedImage img) {
    int[] grey = img.getRaster().getPixels(0, 0, img.getWidth(), img.getHeight(), (int[]) null);
    return Arrays.stream(grey).boxed().toList();
  }

  @Test
  void outputNamesCarryTheMode() {
    assertThat(EvaluateCommand.outputFile(Path.of("r/report.html"), Tta.NONE)).isEqualTo(Path.of("r/report.html"));
    assertThat(EvaluateCommand.outputFile(Path.of("r/report.html"), Tta.FLIP))
        .isEqualTo(Path.of("r/report-tta-flip.html"));
    assertThat(EvaluateCommand.outputFile(Path.of("scores"), Tta.FLIP)).isEqualTo(Path.of("scores-tta-flip"));
    assertThat(EvaluateCommand.outputFile(Path.of("a.b/x-tta-flip.csv"), Tta.FLIP))
        .isEqualTo(Path.of("a.b/x-tta-flip.csv"));
  }
}
