package org.effiseg.cli;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.effiseg.sweep.RunLauncher;
import org.effiseg.testing.Cli;
import org.effiseg.testing.MiniKvasir;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code effiseg sweep} with the local executor on the smoke preset (a small Kvasir-SEG: 4
 * training, 2 validation, 3 test images): killed mid-way and run again, it finishes without
 * redoing the finished run; a failed run is reported with its log while the others go on; the
 * study table is written; wrong flags stop it before anything runs.
 */
class SweepCommandTest {
  @TempDir static Path dir;
  private static Path data;
  private static final Pattern ATTEMPT = Pattern.compile("^==== \\S+ (train|resume) on ", Pattern.MULTILINE);

  @BeforeAll
  static void smallDataset() throws IOException {
    data = MiniKvasir.create(dir.resolve("data"), 4, 2, 3);
  }

  @Test
  void aKilledSweepFinishesWithoutRedoingFinishedRuns() throws Exception {
    Path sweep = dir.resolve("killed");
    List<String> command = new ArrayList<>(RunLauncher.javaLauncher());
    command.addAll(List.of("sweep", "--presets", "smoke", "--seeds", "1,2", "--data", data.toString(),
        "--out", sweep.toString(), "--epochs", "3", "--threads", "1", "--workers", "1"));
    Path output = dir.resolve("killed-sweep.out");
    Process first = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile()).start();
    Path run1 = sweep.resolve("runs/smoke-seed1");
    Path run2 = sweep.resolve("runs/smoke-seed2");
    // once the second run has both checkpoints of its first epoch (the first run is finished by
    // then); a kill between the two would leave a run train --resume cannot score (its best
    // checkpoint missing), a hole of the run directory's commit order, not of the sweep
    waitUntil(() -> (Files.exists(run2.resolve("last.safetensors")) && Files.exists(run2.resolve("best.safetensors")))
        || !first.isAlive(), 240);
    assertWithMessage("the sweep ended before it could be killed:\n%s", Files.readString(output))
        .that(first.isAlive()).isTrue();
    List<ProcessHandle> training = first.descendants().toList();
    assertThat(training).isNotEmpty();
    first.destroyForcibly().waitFor();
    for (ProcessHandle child : training) {
      // its sweep gone, the training child halts instead of training on as an orphan
      child.onExit().get(60, TimeUnit.SECONDS);
    }
    assertThat(Files.exists(run1.resolve("scores-test.json"))).isTrue();
    assertThat(Files.exists(run2.resolve("scores-test.json"))).isFalse();
    byte[] finishedCheckpoint = Files.readAllBytes(run1.resolve("last.safetensors"));
    FileTime finishedScores = Files.getLastModifiedTime(run1.resolve("scores-test.json"));

    Cli.Outcome again = Cli.run("sweep", "--out", sweep.toString());
    assertWithMessage("%s%s", again.out(), again.err()).that(again.exit()).isEqualTo(0);
    assertThat(again.out()).contains("2 runs, 1 finished, 1 to run");
    assertThat(Files.readAllBytes(run1.resolve("last.safetensors"))).isEqualTo(finishedCheckpoint);
    assertThat(Files.getLastModifiedTime(run1.resolve("scores-test.json"))).isEqualTo(finishedScores);
    assertThat(attempts(sweep.resolve("logs/smoke-seed1.log"))).containsExactly("train");
    assertThat(attempts(sweep.resolve("logs/smoke-seed2.log"))).containsExactly("train", "resume").inOrder();
    assertThat(Files.readAllLines(run2.resolve("epochs.csv"))).hasSize(4); // header + 3 epochs, none twice

    String table = Files.readString(sweep.resolve("study.md"));
    assertThat(table).containsMatch("\\| smoke \\| 2 \\| [0-9.]+ ± [0-9.]+ \\| [0-9.]+ ± [0-9.]+ \\|");
    assertThat(table).contains("| smoke | 1 | ");
    assertThat(table).contains("| smoke | 2 | ");
    assertThat(Files.readAllLines(sweep.resolve("study-runs.csv"))).hasSize(3);
    assertThat(Files.readString(sweep.resolve("study.csv"))).startsWith("preset,n,dice_mean,dice_std");
    assertThat(Files.readString(sweep.resolve("study.html"))).contains("<svg");

    Cli.Outcome status = Cli.run("sweep", "--out", sweep.toString(), "--status");
    assertThat(status.exit()).isEqualTo(0);
    assertThat(status.out()).contains("2 finished");
  }

  @Test
  void aFailedRunIsReportedWithItsLogAndTheOthersGoOn() throws Exception {
    Path sweep = dir.resolve("failing");
    Path broken = sweep.resolve("runs/smoke-seed3");
    Files.createDirectories(broken);
    Files.writeString(broken.resolve("last.safetensors"), "not a checkpoint");

    Cli.Outcome o = Cli.run("sweep", "--presets", "smoke", "--seeds", "3,4", "--data", data.toString(),
        "--out", sweep.toString(), "--threads", "1", "--workers", "1");
    assertWithMessage("%s%s", o.out(), o.err()).that(o.exit()).isEqualTo(1);
    Path log = sweep.resolve("logs/smoke-seed3.log");
    assertThat(o.out()).contains("[1/2 smoke-seed3] FAILED (exit code 1); log " + log);
    assertThat(o.out()).contains("[2/2 smoke-seed4] finished in");
    assertThat(Files.readString(log)).contains("config.json"); // train --resume's own message
    assertThat(attempts(log)).containsExactly("resume");

    Cli.Outcome status = Cli.run("sweep", "--out", sweep.toString(), "--status");
    assertThat(status.out()).containsMatch("smoke-seed3 +failed .*exit 1 .*; log " + Pattern.quote(log.toString()));
    assertThat(status.out()).contains("1 failed, 1 finished");

    Cli.Outcome collect = Cli.run("sweep", "--out", sweep.toString(), "--collect");
    assertThat(collect.exit()).isEqualTo(1);
    assertThat(collect.out()).contains("not in the table (not finished): smoke-seed3 (failed)");
    assertThat(Files.readAllLines(sweep.resolve("study-runs.csv"))).hasSize(2);

    Cli.Outcome noSuchEntry = Cli.run("sweep", "--out", sweep.toString(), "--collect", "--checkpoint", "best_tta");
    assertThat(noSuchEntry.exit()).isEqualTo(1);
    assertThat(noSuchEntry.err()).contains("runs/smoke-seed4/scores-test.json has no 'best_tta' scores (it has [best, last, best-tta-flip])");
  }

  @Test
  void runsTrainedWithEmaAreTabulatedByTheirBestAverage() throws Exception {
    Path sweep = dir.resolve("ema");
    Cli.Outcome o = Cli.run("sweep", "--presets", "smoke", "--seeds", "5", "--data", data.toString(),
        "--out", sweep.toString(), "--epochs", "1", "--threads", "1", "--workers", "1", "--ema", "0.9");
    assertWithMessage("%s%s", o.out(), o.err()).that(o.exit()).isEqualTo(0);
    assertThat(Files.readString(sweep.resolve("runs/smoke-seed5/config.json"))).contains("\"ema\": 0.9");
    Cli.Outcome collect = Cli.run("sweep", "--out", sweep.toString(), "--collect", "--checkpoint", "best-ema");
    assertWithMessage("%s%s", collect.out(), collect.err()).that(collect.exit()).isEqualTo(0);
    assertThat(Files.readString(sweep.resolve("study.md")))
        .contains("test split, best-ema checkpoint (the weight average with the highest validation Dice)");
    assertThat(Files.readAllLines(sweep.resolve("study-runs.csv"))).hasSize(2);
  }

  @Test
  void wrongFlagsStopTheSweepBeforeAnythingRuns() throws Exception {
    Path sweep = dir.resolve("usage");
    String[] grid = {"sweep", "--presets", "smoke", "--seeds", "1", "--data", data.toString(), "--out", sweep.toString()};
    assertThat(Cli.run("sweep", "--out", sweep.toString()).exit()).isEqualTo(2);
    for (String[] extra : List.of(new String[] {"--resume"}, new String[] {"--preset", "quick"},
        new String[] {"--no-such-flag"}, new String[] {"--epochs", "x"})) {
      Cli.Outcome o = Cli.run(concat(grid, extra));
      assertWithMessage("%s: %s", List.of(extra), o.err()).that(o.exit()).isEqualTo(2);
      assertThat(o.err()).contains(extra[0]);
    }
    Cli.Outcome badValue = Cli.run(concat(grid, new String[] {"--variant", "b9"}));
    assertThat(badValue.exit()).isEqualTo(1);
    assertThat(badValue.err()).contains("smoke-seed1: variant (--variant) must be b0");
    Cli.Outcome badPreset = Cli.run("sweep", "--presets", "smoke,nope", "--seeds", "1", "--data",
        data.toString(), "--out", sweep.toString());
    assertThat(badPreset.exit()).isEqualTo(1);
    assertThat(badPreset.err()).contains("unknown preset 'nope'");
    assertThat(Files.exists(sweep)).isFalse();
    Cli.Outcome noSweep = Cli.run("sweep", "--out", sweep.toString(), "--status");
    assertThat(noSweep.exit()).isEqualTo(1);
    assertThat(noSweep.err()).contains("no sweep.json");
  }

  private static List<String> attempts(Path log) throws IOException {
    List<String> how = new ArrayList<>();
    Matcher m = ATTEMPT.matcher(Files.readString(log));
    while (m.find()) {
      how.add(m.group(1));
    }
    return how;
  }

  private static String[] concat(String[] a, String[] b) {
    List<String> all = new ArrayList<>(List.of(a));
    all.addAll(List.of(b));
    return all.toArray(String[]::new);
  }

  private static void waitUntil(BooleanSupplier condition, int seconds) throws InterruptedException {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > end) {
        throw new AssertionError("waited " + seconds + " s in vain");
      }
      Thread.sleep(20);
    }
  }
}
