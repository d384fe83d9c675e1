package org.effiseg.sweep;

import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.effiseg.util.ProgressBar;

/** {@code effiseg sweep --status}: one line per run (state, epochs, score, Slurm task, last attempt). */
public final class StatusReport {
  private StatusReport() {}

  public static void print(SweepDirectory sweep, SweepManifest manifest, String checkpoint, PrintStream out)
      throws IOException {
    Map<Integer, String> queue = SlurmExecutor.queueStates(sweep);
    List<String> jobs = SlurmExecutor.jobs(sweep).stream().map(SlurmExecutor.Job::jobId).toList();
    out.printf(Locale.ROOT, "sweep %s: %d runs%s%n", sweep.root(), manifest.runs().size(),
        jobs.isEmpty() ? "" : ", Slurm job(s) " + String.join(", ", jobs));
    String format = "%3s  %-28s %-12s %-7s %-9s %-10s %s%n";
    out.printf(Locale.ROOT, format, "#", "run", "state", "epochs",
        (manifest.evalSplit().equals("test") ? "test" : "val") + " Dice", "Slurm", "last attempt");
    Map<RunStatus.State, Integer> counts = new EnumMap<>(RunStatus.State.class);
    for (SweepManifest.Run run : manifest.runs()) {
      RunStatus s = RunStatus.of(sweep, manifest, run);
      counts.merge(s.state(), 1, Integer::sum);
      double dice = s.score(checkpoint, "dice");
      out.printf(Locale.ROOT, format, run.index(), run.name(), s.state().label(),
          s.epochs() == 0 ? "-" : s.epochsDone() + "/" + s.epochs(),
          Double.isNaN(dice) ? "-" : String.format(Locale.ROOT, "%.4f", dice),
          queue.getOrDefault(run.index(), "-"), attempt(sweep, s));
    }
    List<String> summary = new ArrayList<>();
    counts.forEach((state, n) -> summary.add(n + " " + state.label()));
    out.println(String.join(", ", summary));
  }

  private static String attempt(SweepDirectory sweep, RunStatus s) {
    Attempt a = s.lastAttempt();
    if (a == null) {
      return "-";
    }
    String outcome = a.exitCode() == null
        ? (s.state() == RunStatus.State.RUNNING ? "running" : "did not end (killed)")
        : "exit " + a.exitCode() + " after " + ProgressBar.clock(a.seconds() == null ? 0 : a.seconds());
    return a.how() + " " + a.started() + " on " + a.host() + " (" + a.executor() + "): " + outcome
        + (s.state() == RunStatus.State.FAILED ? "; log " + sweep.log(s.run().name()) : "");
  }
}
