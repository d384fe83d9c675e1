package org.effiseg.sweep;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.effiseg.eval.PublishedScores;
import org.effiseg.eval.StudyTable;

/**
 * Builds a sweep's study table from its run directories: each finished run's {@code
 * scores-<split>.json}, the entry of one checkpoint ({@code best}, the highest validation Dice,
 * or {@code last}, or another entry such as {@code best-tta-flip} or, in runs with {@code --ema},
 * {@code best-ema}); any entry effiseg writes there can be tabulated the same way.
 */
public final class StudyCollector {
  private StudyCollector() {}

  /** The table, and the runs it lacks (not finished) with their state. */
  public record Collected(StudyTable table, List<String> missing) {}

  public static Collected collect(SweepDirectory sweep, SweepManifest manifest, String checkpoint,
      PublishedScores published) throws IOException {
    List<StudyTable.Run> runs = new ArrayList<>();
    List<String> missing = new ArrayList<>();
    for (SweepManifest.Run run : manifest.runs()) {
      RunStatus status = RunStatus.of(sweep, manifest, run);
      if (status.state() != RunStatus.State.FINISHED) {
        missing.add(run.name() + " (" + status.state().label() + ")");
        continue;
      }
      if (!status.scores().has(checkpoint)) {
        throw new IllegalArgumentException(run.dir(sweep).resolve("scores-" + manifest.evalSplit() + ".json")
            + " has no '" + checkpoint + "' scores (it has " + status.scores().keySet() + ")");
      }
      Map<String, Double> scores = new LinkedHashMap<>();
      for (String metric : StudyTable.METRICS) {
        scores.put(metric, status.score(checkpoint, metric));
      }
      runs.add(new StudyTable.Run(run.preset(), run.seed(), run.name(), scores));
    }
    Map<String, String> details = new LinkedHashMap<>();
    details.put("sweep", sweep.root().toString());
    details.put("scores", manifest.evalSplit() + " split, " + checkpoint + " checkpoint"
        + switch (checkpoint) {
          case "best" -> " (highest validation Dice)";
          case "best-ema" -> " (the weight average with the highest validation Dice)";
          default -> "";
        });
    details.put("runs", runs.size() + " of " + manifest.runs().size() + " finished"
        + (missing.isEmpty() ? "" : "; missing: " + String.join(", ", missing)));
    details.put("training flags", manifest.trainFlags().isEmpty() ? "(none: the presets as they are)"
        : Shell.join(manifest.trainFlags()));
    details.put("commands", "sweep.json; e.g. " + manifest.runs().get(0).command());
    String title = "Study table: " + sweep.root().getFileName();
    return new Collected(new StudyTable(title, manifest.presets(), runs, published, details), missing);
  }
}
