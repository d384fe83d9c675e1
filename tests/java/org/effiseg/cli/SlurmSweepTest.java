package org.effiseg.cli;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.effiseg.sweep.SlurmExecutor;
import org.effiseg.sweep.SweepDirectory;
import org.effiseg.testing.Cli;
import org.effiseg.testing.MiniKvasir;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code effiseg sweep --executor slurm} against a real Slurm: the single-node cluster of
 * scripts/slurm-local.sh (Debian's slurm-wlm and munge, installed and started as root where they
 * are not running yet; skipped, with the script's reason, where that cannot be done). A 2-task
 * array trains smoke x 2 seeds; --status follows it through squeue; --collect tabulates both.
 */
class SlurmSweepTest {
  private static final Path SCRIPT = Path.of("scripts", "slurm-local.sh");
  @TempDir static Path dir;
  private static boolean startedHere;

  private record Outcome(int exit, String text) {}

  @BeforeAll
  static void singleNodeSlurm() throws Exception {
    if (script("status").exit() == 0) {
      return;
    }
    Outcome start = script("start");
    assumeTrue(start.exit() == 0, "no single-node Slurm on this machine: " + start.text().strip());
    startedHere = true;
  }

  @AfterAll
  static void stopWhatWeStarted() throws Exception {
    if (startedHere) {
      Outcome stop = script("stop");
      assertWithMessage(stop.text()).that(stop.exit()).isEqualTo(0);
    }
  }

  @Test
  void aJobArrayTrainsEveryRunAndTheTableCollectsThem() throws Exception {
    Path data = MiniKvasir.create(dir.resolve("data"), 4, 2, 3);
    Path out = dir.resolve("sweep");
    SweepDirectory sweep = new SweepDirectory(out);
    Cli.Outcome submitted = Cli.run("sweep", "--executor", "slurm", "--presets", "smoke", "--seeds", "1,2",
        "--data", data.toString(), "--out", out.toString(), "--threads", "1", "--workers", "1",
        "--cpus-per-task", "1", "--time", "15:00");
    assertWithMessage("%s%s", submitted.out(), submitted.err()).that(submitted.exit()).isEqualTo(0);
    List<SlurmExecutor.Job> jobs = SlurmExecutor.jobs(sweep);
    assertThat(jobs).hasSize(1);
    SlurmExecutor.Job job = jobs.get(0);
    assertThat(job.indexes()).containsExactly(0, 1).inOrder();
    assertThat(submitted.out()).contains("submitted job array " + job.jobId() + " (2 task(s): 0,1)");
    assertThat(job.sbatch()).containsAtLeast("--array=0,1", "--cpus-per-task=1", "--time=15:00");

    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(300);
    Map<Integer, String> queue = Map.of();
    while (!(queue.size() == 2 && queue.values().stream().allMatch("COMPLETED"::equals))) {
      if (System.nanoTime() > end) {
        throw new AssertionError("the array did not complete in 300 s; Slurm says " + queue + "\n"
            + Cli.run("sweep", "--out", out.toString(), "--status").out() + taskOutputs(out));
      }
      Thread.sleep(500);
      queue = SlurmExecutor.queueStates(sweep);
    }

    Cli.Outcome status = Cli.run("sweep", "--out", out.toString(), "--status");
    assertThat(status.out()).contains("Slurm job(s) " + job.jobId());
    assertThat(status.out()).containsMatch("smoke-seed1 +finished +2/2 .*COMPLETED .*slurm job " + job.jobId() + " task 0\\): exit 0");
    assertThat(status.out()).containsMatch("smoke-seed2 +finished +2/2 .*COMPLETED .*slurm job " + job.jobId() + " task 1\\): exit 0");

    for (int task = 0; task < 2; task++) {
      JsonObject record = JsonParser.parseString(
          Files.readString(out.resolve("runs/smoke-seed" + (task + 1) + "/run.json"))).getAsJsonObject();
      JsonObject env = record.getAsJsonArray("starts").get(0).getAsJsonObject().getAsJsonObject("environment");
      assertThat(env.get("SLURM_ARRAY_JOB_ID").getAsString()).isEqualTo(job.jobId());
      assertThat(env.get("SLURM_ARRAY_TASK_ID").getAsString()).isEqualTo(Integer.toString(task));
      assertThat(Files.readString(out.resolve("slurm/" + job.jobId() + "_" + task + ".out")))
          .contains("effiseg sweep task " + task + ": smoke-seed" + (task + 1));
    }

    Cli.Outcome collected = Cli.run("sweep", "--out", out.toString(), "--collect", "--reference", "study");
    assertWithMessage("%s%s", collected.out(), collected.err()).that(collected.exit()).isEqualTo(0);
    assertThat(Files.readString(out.resolve("study.md"))).containsMatch("\\| smoke \\| 2 \\| [0-9.]+ ± [0-9.]+ \\|");
    assertThat(Files.readAllLines(out.resolve("study-runs.csv"))).hasSize(3);

    Cli.Outcome again = Cli.run("sweep", "--executor", "slurm", "--out", out.toString());
    assertThat(again.exit()).isEqualTo(0);
    assertThat(again.out()).contains("nothing to submit");
    assertThat(SlurmExecutor.jobs(sweep)).hasSize(1);
  }

  private static String taskOutputs(Path out) throws IOException {
    StringBuilder b = new StringBuilder();
    try (var files = Files.list(out.resolve("slurm"))) {
      for (Path f : files.filter(p -> p.toString().endsWith(".out")).sorted().toList()) {
        b.append("\n--- ").append(f).append('\n').append(Files.readString(f));
      }
    }
    return b.toString();
  }

  private static Outcome script(String action) throws IOException, InterruptedException {
    Process p = new ProcessBuilder("bash", SCRIPT.toString(), action).redirectErrorStream(true).start();
    String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    return new Outcome(p.waitFor(), text);
  }
}
