package org.effiseg.cli;

import static com.google.common.truth.Truth.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.effiseg.testing.BadImages;
import org.effiseg.testing.Cli;
import org.effiseg.testing.TinyRuns;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a hostile or careless user can feed the command line: every case fails with exit status
 * 1 and one line naming the file or flag at fault, or is refused before it can do harm (no run
 * directory made, no input overwritten, no JVM crash).
 */
class HostileInputTest {
  private static final Path SHARED = Path.of(System.getProperty("effiseg.shared", "../shared"));
  @TempDir static Path dir;
  private static TinyRuns.Inputs tiny;

  @BeforeAll
  static void fixtures() throws IOException {
    tiny = TinyRuns.inputs(dir);
  }

  /** {@code train} of {@link TinyRuns#flags} into {@code out}; {@code more} adds or replaces flags. */
  private static String[] train(Path out, String... more) {
    Map<String, String> options = new LinkedHashMap<>();
    List<String> base = new ArrayList<>(List.of("--data", tiny.data().toString(), "--out", out.toString(),
        "--eval-split", "none"));
    base.addAll(TinyRuns.flags(1));
    base.addAll(List.of(more));
    for (int i = 0; i < base.size(); i += 2) {
      options.put(base.get(i), base.get(i + 1));
    }
    List<String> args = new ArrayList<>(List.of("train"));
    options.forEach((k, v) -> args.addAll(List.of(k, v)));
    return args.toArray(String[]::new);
  }

  @Test
  void noCommandPrintsTheUsageOnStderrAndExits2() {
    Cli.Outcome o = Cli.run();
    assertThat(o.exit()).isEqualTo(2);
    assertThat(o.err()).contains("Usage: effiseg");
    assertThat(o.out()).isEmpty();
  }

  @Test
  void threadCountsOutOfBoundsAreRefusedNamingTheFlag() {
    Path out = dir.resolve("threads-out");
    for (String n : List.of("10000", "-1")) {
      Cli.run("predict", "--checkpoint", tiny.checkpoint().toString(), "--out", out.toString(),
          "--threads", n, tiny.image().toString()).failsNaming(1, "--threads", n);
      Cli.run("evaluate", "--checkpoint", tiny.checkpoint().toString(), "--data", tiny.data().toString(),
          "--threads", n).failsNaming(1, "--threads", n);
      Cli.run("classify", "--weights", SHARED.resolve("weights/efficientnet-b0-tfjs").toString(),
          "--threads", n, tiny.image().toString()).failsNaming(1, "--threads", n);
      Cli.run("bench", "--size", "32", "--batch", "1", "--steps", "1", "--warmup", "0",
          "--device", "cpu", "--threads", n).failsNaming(1, "--threads", n);
      Path run = dir.resolve("threads-run");
      Cli.run(train(run, "--threads", n)).failsNaming(1, "--threads", n);
      assertThat(Files.exists(run)).isFalse();
    }
  }

  @Test
  void anUnknownDeviceIsAUsageErrorNamingTheFlag() {
    Path out = dir.resolve("device-out");
    for (Cli.Outcome o : List.of(
        Cli.run("predict", "--checkpoint", tiny.checkpoint().toString(), "--out", out.toString(),
            "--device", "gpu", tiny.image().toString()),
        Cli.run("evaluate", "--checkpoint", tiny.checkpoint().toString(), "--data",
            tiny.data().toString(), "--device", "gpu"),
        Cli.run("bench", "--size", "32", "--device", "gpu"))) {
      assertThat(o.exit()).isEqualTo(2);
      assertThat(o.err()).contains("Invalid value for option '--device': auto, cpu or cuda, got 'gpu'");
      assertThat(o.err()).doesNotContain("\tat ");
    }
    assertThat(Files.exists(out)).isFalse();
  }

  @Test
  void predictRefusesInputsThatWouldShareAnOutputFile() throws IOException {
    Path a = copy(tiny.image(), dir.resolve("same-stem/a/0.jpg"));
    Path b = copy(tiny.image(), dir.resolve("same-stem/b/0.jpg"));
    Path out = dir.resolve("same-stem/out");
    Cli.run("predict", "--checkpoint", tiny.checkpoint().toString(), "--out", out.toString(),
        a.toString(), b.toString()).failsNaming(1, a.toString(), b.toString());

    Path folder = Files.createDirectories(dir.resolve("same-stem/mixed"));
    copy(tiny.image(), folder.resolve("0.jpg"));
    ImageIO.write(ImageIO.read(tiny.image().toFile()), "png", folder.resolve("0.png").toFile());
    Cli.run("predict", "--checkpoint", tiny.checkpoint().toString(), "--out", out.toString(),
        folder.toString()).failsNaming(1, "0.jpg", "0.png");

    // x_prob.jpg's mask would be x.jpg's probability map
    Path x = copy(tiny.image(), dir.resolve("same-stem/prob/x.jpg"));
    Path xProb = copy(tiny.image(), dir.resolve("same-stem/prob/x_prob.jpg"));
    Cli.run("predict", "--checkpoint", tiny.checkpoint().toString(), "--out", out.toString(),
        "--probabilities", x.toString(), xProb.toString()).failsNaming(1, "x.jpg", "x_prob.jpg");
    assertThat(Files.exists(out) ? list(out) : List.of()).isEmpty();
  }

  @Test
  void predictNeverWritesOverAnInput() throws IOException {
    Path inputs = Files.createDirectories(dir.resolve("in-place/images"));
    Path png = inputs.resolve("5.png");
    ImageIO.write(ImageIO.read(tiny.image().toFile()), "png", png.toFile());
    byte[] before = Files.readAllBytes(png);
    Cli.run("predict", "--checkpoint", tiny.checkpoint().toString(), "--out", inputs.toString(),
        inputs.toString()).failsNaming(1, "--out", inputs.toString());
    Cli.run("predict", "--checkpoint", tiny.checkpoint().toString(), "--out", inputs.toString(),
        png.toString()).failsNaming(1, "--out", png.toString());
    assertThat(Files.readAllBytes(png)).isEqualTo(before);
    assertThat(list(inputs)).containsExactly("5.png");

    Path file = Files.writeString(dir.resolve("in-place/notes.txt"), "mine");
    Cli.run("predict", "--checkpoint", tiny.checkpoint().toString(), "--out", file.toString(),
        png.toString()).failsNaming(1, "--out", file.toString());
    assertThat(Files.readString(file)).isEqualTo("mine");
  }

  @Test
  void predictWritesWholeFilesAndClearsWhatAKilledPredictLeft() throws IOException {
    Path out = Files.createDirectories(dir.resolve("after-kill"));
    Files.writeString(out.resolve(".0.png.4711.tmp"), "half a PNG");
    Files.writeString(out.resolve(".notes.txt.1.tmp"), "not ours to delete");
    Cli.Outcome o = Cli.run("predict", "--checkpoint", tiny.checkpoint().toString(), "--out", out.toString(),
        "--threads", "1", tiny.image().toString());
    assertThat(o.exit()).isEqualTo(0);
    assertThat(list(out)).containsExactly(".notes.txt.1.tmp", "0.png");
    assertThat(ImageIO.read(out.resolve("0.png").toFile()).getWidth()).isEqualTo(48);
  }

  @Test
  void predictNamesEveryImageItCannotDecode() throws IOException {
    byte[] jpeg = Files.readAllBytes(SHARED.resolve("data/kvasir-seg/test/images/0.jpg"));
    Path bad = Files.createDirectories(dir.resolve("bad-images"));
    List<Path> files = List.of(
        Files.write(bad.resolve("ten-bytes.jpg"), Arrays.copyOf(jpeg, 10)),
        Files.write(bad.resolve("half.jpg"), Arrays.copyOf(jpeg, jpeg.length / 2)),
        Files.write(bad.resolve("no-iend.png"), BadImages.withoutIend(tiny.image())),
        BadImages.cmykJpeg(bad.resolve("cmyk.jpg")),
        Files.write(bad.resolve("huge.png"), BadImages.hugePng(60000, 60000)),
        Files.write(bad.resolve("large.png"), BadImages.hugePng(30000, 30000)));
    for (Path f : files) {
      Path out = dir.resolve("bad-images-out");
      Cli.run("predict", "--checkpoint", tiny.checkpoint().toString(), "--out", out.toString(),
          f.toString()).failsNaming(1, f.toString());
      assertThat(Files.exists(out) ? list(out) : List.of()).isEmpty();
    }
  }

  @Test
  void aCheckpointWithNonFiniteWeightsIsRefused() throws IOException {
    Path poisoned = TinyRuns.checkpoint(dir.resolve("poisoned.safetensors"), true);
    Cli.run("predict", "--checkpoint", poisoned.toString(), "--out",
        dir.resolve("poisoned-out").toString(), tiny.image().toString())
        .failsNaming(1, poisoned.toString(), TinyRuns.poisonedTensor());
    Cli.run("evaluate", "--checkpoint", poisoned.toString(), "--data", tiny.data().toString())
        .failsNaming(1, poisoned.toString(), TinyRuns.poisonedTensor());
  }

  @Test
  void aFolderWhereAFileBelongsIsNamed() throws IOException {
    Path folder = Files.createDirectories(dir.resolve("a-folder"));
    Cli.run("predict", "--checkpoint", folder.toString(), "--out", dir.resolve("x").toString(),
        tiny.image().toString()).failsNaming(1, folder.toString());
    Cli.run("evaluate", "--checkpoint", folder.toString(), "--data", tiny.data().toString())
        .failsNaming(1, folder.toString());
    Cli.run(train(dir.resolve("config-dir-run"), "--config", folder.toString()))
        .failsNaming(1, "--config", folder.toString());
  }

  @Test
  void nonFiniteSettingsAreRefusedNamingTheFlagOrKey() throws IOException {
    Path run = dir.resolve("nan-run");
    Cli.run(train(run, "--lr", "NaN")).failsNaming(1, "--lr", "NaN");
    Cli.run(train(run, "--threshold-logit", "NaN")).failsNaming(1, "--threshold-logit");
    Cli.run(train(run, "--weight-decay", "Infinity")).failsNaming(1, "--weight-decay");
    Path yaml = Files.writeString(dir.resolve("nan.yaml"), "lr: .nan\n");
    Cli.run(train(run, "--config", yaml.toString())).failsNaming(1, yaml.toString(), "lr");
    assertThat(Files.exists(run)).isFalse();
  }

  @Test
  @Timeout(60)
  void aYamlAliasBombIsRefusedNamingTheFile() throws IOException {
    StringBuilder bomb = new StringBuilder("augment_mods:\n  - &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (int level = 1; level <= 10; level++) {
      String alias = "*a" + (level - 1);
      bomb.append("  - &a").append(level).append(" [")
          .append(String.join(", ", java.util.Collections.nCopies(9, alias))).append("]\n");
    }
    Path yaml = Files.writeString(dir.resolve("bomb.yaml"), bomb);
    Cli.run(train(dir.resolve("bomb-run"), "--config", yaml.toString()))
        .failsNaming(1, yaml.toString());
  }

  @Test
  void evalSplitIsCheckedBeforeTraining() {
    Path run = dir.resolve("eval-split-run");
    Cli.run(train(run, "--eval-split", "nope")).failsNaming(1, "--eval-split", "nope");
    assertThat(Files.exists(run)).isFalse();
  }

  @Test
  void settingsThatCannotWorkLeaveNoRunDirectory() throws IOException {
    Path run = dir.resolve("doomed-run");
    Cli.run(train(run, "--augment", "weird")).failsNaming(1, "weird");
    Cli.run(train(run, "--augment-mods", "nope")).failsNaming(1, "nope");
    Path garbage = Files.write(dir.resolve("garbage.safetensors"), new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9});
    Cli.run(train(run, "--weights", garbage.toString())).failsNaming(1, garbage.toString());
    assertThat(Files.exists(run)).isFalse();
  }

  @Test
  void aCorruptConfigJsonIsNamedOnResume() throws IOException {
    Path run = Files.createDirectories(dir.resolve("corrupt-config"));
    Files.writeString(run.resolve("config.json"), "{\"epochs\": ");
    Cli.run("train", "--data", tiny.data().toString(), "--out", run.toString(), "--resume")
        .failsNaming(1, run.resolve("config.json").toString());
  }

  @Test
  void anOutputThatCannotBeWrittenIsNamedNotItsTemporary() {
    Path report = Path.of("/proc/effiseg-report.html");
    String line = Cli.run("evaluate", "--checkpoint", tiny.checkpoint().toString(), "--data",
        tiny.data().toString(), "--report", report.toString()).failsNaming(1, report.toString());
    assertThat(line).doesNotContain(".tmp");
  }

  private static Path copy(Path from, Path to) throws IOException {
    Files.createDirectories(to.getParent());
    return Files.copy(from, to);
  }

  private static List<String> list(Path folder) throws IOException {
    try (var entries = Files.list(folder)) {
      return entries.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }
}
