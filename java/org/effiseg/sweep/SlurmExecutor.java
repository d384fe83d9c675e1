package org.effiseg.sweep;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.reflect.TypeToken;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.effiseg.util.AtomicFiles;

/**
 * Submits a sweep to Slurm as one job array, {@code sbatch --array=I,J,…}: one task per run
 * not yet finished, each task running {@code effiseg sweep --out DIR --task $SLURM_ARRAY_TASK_ID}
 * with the Java and the effiseg build of the submitting process; that task runs its run's
 * command from the manifest through {@link RunLauncher} (train, resume, or nothing). The job ids
 * go to {@code slurm/jobs.json}; {@link #queueStates} asks {@code squeue} where the tasks are.
 * Slurm is used as it is: its own options pass straight to {@code sbatch}.
 */
public final class SlurmExecutor {
  /**
   * What each task asks of Slurm; null leaves Slurm's default.
   *
   * @param extra further {@code sbatch} options, verbatim (e.g. {@code --account=lab})
   */
  public record Request(String partition, String gpus, Integer cpusPerTask, String mem, String time,
      List<String> extra) {
    List<String> sbatchOptions() {
      List<String> o = new ArrayList<>();
      add(o, "--partition", partition);
      add(o, "--gpus", gpus);
      add(o, "--cpus-per-task", cpusPerTask == null ? null : cpusPerTask.toString());
      add(o, "--mem", mem);
      add(o, "--time", time);
      o.addAll(extra);
      return o;
    }

    private static void add(List<String> o, String option, String value) {
      if (value != null) {
        o.add(option + "=" + value);
      }
    }
  }

  /** One submission, as kept in {@code slurm/jobs.json}. */
  public record Job(String jobId, String submitted, List<Integer> indexes, String script, List<String> sbatch) {}

  private static final Gson GSON = new GsonBuilder()
      .setPrettyPrinting()
      .disableHtmlEscaping()
      .setFieldNamingPolicy(com.google.gson.FieldNamingPolicy.LOWER_CASE_WITH_UNDERSCORES)
      .create();
  private static final long COMMAND_TIMEOUT_SECONDS = 60;

  private SlurmExecutor() {}

  /** Submits {@code runs} as one array job; returns its id. */
  public static Job submit(SweepDirectory sweep, SweepManifest manifest, List<SweepManifest.Run> runs,
      Request request, PrintStream out) throws IOException {
    if (runs.isEmpty()) {
      throw new IllegalArgumentException("nothing to submit");
    }
    List<Job> jobs = jobs(sweep);
    Files.createDirectories(sweep.slurm());
    Path script = sweep.slurm().resolve("job-" + (jobs.size() + 1) + ".sh");
    String array = runs.stream().map(r -> Integer.toString(r.index())).collect(Collectors.joining(","));
    List<String> sbatch = new ArrayList<>(List.of("sbatch", "--parsable", "--job-name=effiseg-sweep",
        "--array=" + array, "--output=" + sweep.slurm().resolve("%A_%a.out"),
        "--chdir=" + manifest.workdir()));
    sbatch.addAll(request.sbatchOptions());
    sbatch.add(script.toString());
    AtomicFiles.writeString(script, script(sweep, sbatch));
    Outcome submitted = runCommand(sbatch, Path.of(manifest.workdir()));
    if (submitted.exit != 0) {
      throw new IllegalStateException("sbatch failed (exit code " + submitted.exit + "): "
          + submitted.text.strip());
    }
    String jobId = submitted.text.strip().split("[;\\s]")[0];
    if (!jobId.matches("\\d+")) {
      throw new IllegalStateException("sbatch answered '" + submitted.text.strip() + "', not a job id");
    }
    Job job = new Job(jobId, Instant.now().truncatedTo(ChronoUnit.SECONDS).toString(),
        runs.stream().map(SweepManifest.Run::index).toList(), script.toString(), sbatch);
    jobs.add(job);
    AtomicFiles.writeString(jobsFile(sweep), GSON.toJson(jobs) + "\n");
    out.printf("submitted job array %s (%d task(s): %s) from %s%n", jobId, runs.size(), array, script);
    return job;
  }

  /** The task body: runs the manifest's entry for {@code $SLURM_ARRAY_TASK_ID}. */
  private static String script(SweepDirectory sweep, List<String> sbatch) {
    List<String> body = new ArrayList<>(RunLauncher.javaLauncher());
    body.addAll(List.of("sweep", "--out", sweep.root().toString(), "--task"));
    return "#!/bin/bash\n"
        + "# effiseg sweep " + sweep.root() + ": one array task per run of sweep.json.\n"
        + "# Submitted with: " + Shell.join(sbatch) + "\n"
        + "# Each task runs its run's command from sweep.json (train; train --resume after an\n"
        + "# interruption; nothing where the run finished), with the Java and effiseg build found\n"
        + "# when it was submitted. Output of the run: logs/<run>.log beside sweep.json.\n"
        + "unset " + org.effiseg.util.ParentWatch.ENV + "\n"
        + "exec " + Shell.join(body) + " \"$SLURM_ARRAY_TASK_ID\"\n";
  }

  /** The jobs submitted for this sweep so far, oldest first. */
  public static List<Job> jobs(SweepDirectory sweep) throws IOException {
    Path file = jobsFile(sweep);
    if (!Files.isRegularFile(file)) {
      return new ArrayList<>();
    }
    List<Job> jobs = GSON.fromJson(Files.readString(file), new TypeToken<List<Job>>() {}.getType());
    return jobs == null ? new ArrayList<>() : new ArrayList<>(jobs);
  }

  private static Path jobsFile(SweepDirectory sweep) {
    return sweep.slurm().resolve("jobs.json");
  }

  /**
   * Slurm's state of each submitted task by run index (PENDING, RUNNING, COMPLETED, FAILED,
   * CANCELLED, …; the latest job wins), from {@code squeue --states=all}; a job Slurm no longer
   * knows (purged after MinJobAge) is left out, as is every job where squeue is missing.
   */
  public static Map<Integer, String> queueStates(SweepDirectory sweep) throws IOException {
    Map<Integer, String> states = new LinkedHashMap<>();
    for (Job job : jobs(sweep)) {
      Outcome q = runCommand(List.of("squeue", "--noheader", "--states=all", "--jobs=" + job.jobId(),
          "--format=%i %T"), sweep.root());
      if (q.exit == 0) {
        states.putAll(parseSqueue(q.text, job.jobId()));
      }
    }
    return states;
  }

  /**
   * Reads {@code squeue --format="%i %T"} lines of array {@code jobId}: {@code 12_3 RUNNING} for
   * one task, {@code 12_[4-6,9%2] PENDING} for tasks not yet started.
   */
  static Map<Integer, String> parseSqueue(String text, String jobId) {
    Map<Integer, String> states = new LinkedHashMap<>();
    for (String line : text.split("\n")) {
      String[] f = line.strip().split("\\s+");
      if (f.length < 2 || !f[0].startsWith(jobId + "_")) {
        continue;
      }
      String tasks = f[0].substring(jobId.length() + 1).replace("[", "").replace("]", "");
      int throttle = tasks.indexOf('%');
      if (throttle >= 0) {
        tasks = tasks.substring(0, throttle);
      }
      for (String part : tasks.split(",")) {
        String[] range = part.split("-");
        try {
          int from = Integer.parseInt(range[0]);
          int to = range.length > 1 ? Integer.parseInt(range[1]) : from;
          for (int i = from; i <= to; i++) {
            states.put(i, f[1]);
          }
        } catch (NumberFormatException e) {
          // not a task list this reader knows: leave it out rather than guess
        }
      }
    }
    return states;
  }

  private record Outcome(int exit, String text) {}

  private static Outcome runCommand(List<String> command, Path dir) throws IOException {
    Process p;
    try {
      p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
    } catch (IOException e) {
      return new Outcome(127, command.get(0) + ": " + e.getMessage());
    }
    try {
      String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(COMMAND_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        return new Outcome(124, command.get(0) + " did not answer within " + COMMAND_TIMEOUT_SECONDS + " s");
      }
      return new Outcome(p.exitValue(), text);
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while running " + command.get(0), e);
    }
  }
}
