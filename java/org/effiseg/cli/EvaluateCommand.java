package org.effiseg.cli;

import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.effiseg.api.Segmenter;
import org.effiseg.api.Tta;
import org.effiseg.data.BadInputPolicy;
import org.effiseg.data.Split;
import org.effiseg.data.SplitIndex;
import org.effiseg.eval.ErrorBreakdown;
import org.effiseg.eval.EvaluationInputException;
import org.effiseg.eval.EvaluationReport;
import org.effiseg.eval.EvaluationResult;
import org.effiseg.eval.EvaluationSample;
import org.effiseg.eval.Evaluator;
import org.effiseg.eval.MetricSummary;
import org.effiseg.eval.PerImageCsv;
import org.effiseg.eval.PredictionDirectory;
import org.effiseg.eval.SegmenterEvaluation;
import org.effiseg.eval.Threshold;
import org.effiseg.eval.TrainingLog;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code effiseg evaluate}: scores predictions against a split's ground truth with the reference
 * code's metric conventions and optionally writes an HTML report. Predictions come as mask files
 * made by anything ({@code --predictions}); scoring itself only sees an iterator of {@link
 * EvaluationSample}s, so another prediction source plugs into {@link #score}.
 *
 * <p>Exit codes: 0 scored, 1 bad input (message on stderr), 2 usage error.
 */
@Command(
    name = "evaluate",
    sortOptions = false,
    description = {
      "Score a checkpoint, or predicted masks made by any tool, against a split's ground truth.",
      "",
      "Matches files in MASK_DIR to DIR/<split>/masks by file stem (any common image format)."
          + " Dice and IoU are computed per image and averaged; precision, recall and F1 from the"
          + " pixel counts of the whole split (the EffiSegNet reference code's MONAI conventions).",
      "With --checkpoint and --tta flip, the summary and JSON name the mode and the --report and"
          + " --per-image files are written as NAME-tta-flip.EXT beside the plain ones.",
      "Exit codes: 0 ok, 1 bad input (message on stderr), 2 usage error."
    })
public final class EvaluateCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(
      names = "--predictions",
      paramLabel = "MASK_DIR",
      description = "Folder of predicted masks or probability maps (grey levels), one per image.")
  Path predictions;

  @Option(
      names = "--checkpoint",
      paramLabel = "FILE",
      description =
          "Score a checkpoint from effiseg train instead, at the model's resolution as the"
              + " reference code does (its training threshold unless --threshold is given).")
  Path checkpoint;

  @Mixin SharedOptions.DeviceOption device;
  @Mixin SharedOptions.ThreadsOption threads;
  @Mixin SharedOptions.TtaOption tta;

  @Mixin SharedOptions.DataOption dataset;

  @Option(
      names = "--split",
      defaultValue = "test",
      description = "Split folder to score against (default: ${DEFAULT-VALUE}).")
  String split;

  @Option(
      names = "--threshold",
      paramLabel = "P",
      description = "Foreground where grey/255 > P, P in [0,1] (default 0.5, i.e. grey > 127).")
  Double threshold;

  @Option(
      names = "--resize-nearest",
      description =
          "Resize predictions of another size to the ground truth (nearest neighbour)"
              + " instead of failing.")
  boolean resizeNearest;

  @Option(names = "--json", description = "Print one JSON object with the scores, nothing else.")
  boolean json;

  @Option(
      names = "--report",
      paramLabel = "FILE.html",
      description = "Write a self-contained HTML report.")
  Path report;

  @Option(
      names = "--per-image",
      paramLabel = "FILE.csv",
      description = "Write every image's counts, Dice and IoU as CSV, worst first.")
  Path perImage;

  @Option(
      names = "--train-log",
      paramLabel = "CSV",
      description = "Per-epoch training log (epochs.csv) whose curves the report draws.")
  Path trainLog;

  @Option(
      names = "--worst",
      paramLabel = "N",
      defaultValue = "12",
      description = "Overlays for the N worst images in the report (default: ${DEFAULT-VALUE}).")
  int worst;

  @Override
  public Integer call() {
    if (dataset.data == null) {
      spec.commandLine().getErr().println(DataGuide.missingData("evaluate"));
      return CommandLine.ExitCode.USAGE;
    }
    int threadCount = threads.checked();
    Threshold t = parseThreshold();
    if (worst < 0) {
      throw new ParameterException(spec.commandLine(), "--worst must be >= 0, got " + worst);
    }
    if (trainLog != null && report == null) {
      throw new ParameterException(spec.commandLine(), "--train-log needs --report");
    }
    if ((predictions == null) == (checkpoint == null)) {
      throw new ParameterException(
          spec.commandLine(), "give exactly one of --predictions and --checkpoint");
    }
    Tta mode = tta.tta;
    if (mode != Tta.NONE && checkpoint == null) {
      throw new ParameterException(
          spec.commandLine(), "--tta " + mode.cliName() + " needs --checkpoint (it runs the model)");
    }
    PrintWriter err = spec.commandLine().getErr();
    try {
      TrainingLog log = trainLog == null ? null : TrainingLog.read(trainLog);
      if (checkpoint != null) {
        scoreCheckpoint(t, mode, threadCount, log);
        return 0;
      }
      PredictionDirectory source =
          PredictionDirectory.open(
              predictions, dataset.data.resolve(split), t, resizeNearest, report != null);
      List<Path> unmatched = source.unmatchedPredictions();
      if (!unmatched.isEmpty()) {
        err.println(
            "note: "
                + unmatched.size()
                + " prediction file(s) have no ground truth and are"
                + " not scored, e.g. "
                + unmatched.get(0));
      }
      EvaluationResult result = score(source.iterator(), report == null ? 0 : worst);
      print(result, t, Tta.NONE);
      writeFiles(result, t, Tta.NONE, log);
      return 0;
    } catch (EvaluationInputException e) {
      err.println("effiseg evaluate: " + e.getMessage());
      return 1;
    } catch (IOException e) {
      err.println("effiseg evaluate: " + e.getMessage());
      return 1;
    } finally {
      err.flush();
    }
  }

  private void scoreCheckpoint(Threshold given, Tta mode, int threadCount, TrainingLog log) throws IOException {
    SplitIndex index = SplitIndex.open(dataset.data, Split.parse(split), BadInputPolicy.FAIL);
    try (Segmenter segmenter = Segmenter.builder(checkpoint).device(device.device).threads(threadCount)
        .tta(mode).build()) {
      if (!json) {
        spec.commandLine().getErr().println("model: " + segmenter);
      }
      Threshold t = threshold == null ? Threshold.probability(segmenter.threshold()) : given;
      EvaluationResult result =
          SegmenterEvaluation.evaluate(segmenter, index, t, report == null ? 0 : worst, json ? null : System.err);
      print(result, t, mode);
      writeFiles(result, t, mode, log);
    }
  }

  /** The --report and --per-image files, where asked for (renamed for test-time augmentation). */
  private void writeFiles(EvaluationResult result, Threshold t, Tta mode, TrainingLog log) throws IOException {
    if (report != null) {
      writeReport(result, t, mode, log);
    }
    if (perImage != null) {
      Path file = outputFile(perImage, mode);
      PerImageCsv.write(file, result);
      if (mode != Tta.NONE) {
        PrintWriter msg = json ? spec.commandLine().getErr() : spec.commandLine().getOut();
        msg.println("per-image scores written to " + file);
        msg.flush();
      }
    }
  }

  /**
   * Where an output file goes: {@code file} itself without test-time augmentation, else {@code
   * NAME-tta-MODE.EXT} beside it, so that scores with and without it never overwrite each other
   * ({@code report.html} becomes {@code report-tta-flip.html}; a name that already ends so is kept).
   */
  static Path outputFile(Path file, Tta mode) {
    if (mode == Tta.NONE) {
      return file;
    }
    String name = file.getFileName().toString();
    int dot = name.lastIndexOf('.');
    String stem = dot > 0 ? name.substring(0, dot) : name;
    String extension = dot > 0 ? name.substring(dot) : "";
    String suffix = ttaSuffix(mode);
    return stem.endsWith(suffix) ? file : file.resolveSibling(stem + suffix + extension);
  }

  /** Scores any source of samples; a checkpoint-driven source plugs in here. */
  static EvaluationResult score(Iterator<EvaluationSample> samples, int keepWorst) {
    return Evaluator.evaluate(samples, ErrorBreakdown.Config.DEFAULT, keepWorst);
  }

  private Threshold parseThreshold() {
    if (threshold == null) {
      return Threshold.DEFAULT;
    }
    if (!(threshold >= 0 && threshold <= 1)) {
      throw new ParameterException(
          spec.commandLine(),
          "--threshold must be in [0, 1] (applied to grey/255), got " + threshold);
    }
    return Threshold.probability(threshold);
  }

  private void print(EvaluationResult r, Threshold t, Tta mode) {
    PrintWriter out = spec.commandLine().getOut();
    if (json) {
      out.println(json(split, r.summary(), mode));
    } else {
      out.println(table(split, r.summary(), t, mode));
      out.println(breakdownTable(r.breakdown()));
    }
    out.flush();
  }

  /**
   * The {@code --json} object: split, images, dice, iou, precision, recall, f1 (null if undefined),
   * then {@code "tta"} (the mode's name) where test-time augmentation was on.
   */
  static String json(String split, MetricSummary s, Tta mode) {
    JsonObject o = s.toJson(split);
    if (mode != Tta.NONE) {
      o.addProperty("tta", mode.cliName());
    }
    return o.toString();
  }

  static String table(String split, MetricSummary s, Threshold t, Tta mode) {
    StringBuilder b = new StringBuilder();
    b.append(
        String.format(
            Locale.ROOT,
            "split %s: %d images (%d with a polyp), prediction threshold %s%s%n%n",
            split,
            s.images(),
            s.scoredImages(),
            t,
            mode == Tta.NONE ? "" : ", test-time augmentation " + mode.cliName() + " (" + ttaViews(mode) + ")"));
    b.append(String.format(Locale.ROOT, "  %-10s %8s   %s%n", "metric", "value", "computed as"));
    line(b, "Dice", s.dice(), "mean of per-image 2TP/(2TP+FP+FN)");
    line(b, "IoU", s.iou(), "mean of per-image TP/(TP+FP+FN)");
    line(b, "Precision", s.precision(), "TP/(TP+FP), all pixels of the split");
    line(b, "Recall", s.recall(), "TP/(TP+FN), all pixels of the split");
    line(b, "F1", s.f1(), "2TP/(2TP+FP+FN), all pixels of the split");
    b.append(
        String.format(
            Locale.ROOT, "%n  pixels: TP %d, FP %d, FN %d, TN %d", s.tp(), s.fp(), s.fn(), s.tn()));
    return b.toString();
  }

  /** The error breakdown as two plain-text tables. */
  static String breakdownTable(ErrorBreakdown.Result r) {
    StringBuilder b = new StringBuilder();
    b.append(
        String.format(
            Locale.ROOT,
            "%n  %-30s %6s %9s %9s %9s%n",
            "errors by polyp size",
            "images",
            "mean Dice",
            "FP px",
            "FN px"));
    for (ErrorBreakdown.SizeBin bin : r.sizeBins()) {
      b.append(
          String.format(
              Locale.ROOT,
              "  %-30s %6d %9s %9d %9d%n",
              bin.label() + " (" + bin.range() + ")",
              bin.images(),
              Double.isNaN(bin.meanDice())
                  ? "n/a"
                  : String.format(Locale.ROOT, "%.4f", bin.meanDice()),
              bin.fp(),
              bin.fn()));
    }
    b.append(
        String.format(
            Locale.ROOT,
            "%n  %-30s %9s %9s %9s %9s%n",
            "errors by location",
            "FP px",
            "FP/10k px",
            "FN px",
            "FN/10k px"));
    for (ErrorBreakdown.Region g :
        List.of(
            r.nearBoundary(), r.awayFromBoundary(), r.topLeft(), r.bottomLeft(), r.elsewhere())) {
      b.append(
          String.format(
              Locale.ROOT,
              "  %-30s %9d %9.1f %9d %9.1f%n",
              g.label(),
              g.fp(),
              g.fpPer10k(),
              g.fn(),
              g.fnPer10k()));
    }
    return b.toString().stripTrailing();
  }

  private static void line(StringBuilder b, String name, double v, String how) {
    String value = Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%.4f", v);
    b.append(String.format(Locale.ROOT, "  %-10s %8s   %s%n", name, value, how));
  }

  /** What names a file or score entry made with {@code mode}: "" or "-tta-flip". */
  static String ttaSuffix(Tta mode) {
    return mode == Tta.NONE ? "" : "-tta-" + mode.cliName();
  }

  /** What a title adds for {@code mode}: "" or ", test-time augmentation flip". */
  static String ttaPhrase(Tta mode) {
    return mode == Tta.NONE ? "" : ", test-time augmentation " + mode.cliName();
  }

  /** Adds the line naming the views {@code mode} averaged to a report (none without TTA). */
  static EvaluationReport describeTta(EvaluationReport report, Tta mode) {
    return mode == Tta.NONE ? report : report.detail("test-time augmentation", mode.cliName() + ": " + ttaViews(mode));
  }

  /** The views a mode averages, in words. */
  static String ttaViews(Tta mode) {
    return switch (mode) {
      case NONE -> "the image alone";
      case FLIP -> "mean probability of the image and its left-right, top-bottom and both-ways mirror images";
    };
  }

  private void writeReport(EvaluationResult result, Threshold t, Tta mode, TrainingLog log)
      throws IOException {
    Path file = outputFile(report, mode);
    EvaluationReport r =
        new EvaluationReport(result)
            .title("effiseg evaluation — " + split + ttaPhrase(mode))
            .detail(checkpoint != null ? "checkpoint" : "predictions",
                (checkpoint != null ? checkpoint : predictions).toString())
            .detail("ground truth", dataset.data.resolve(split).resolve("masks").toString())
            .detail("threshold", t + (checkpoint != null ? " on the model's probabilities" : " on grey/255"));
    describeTta(r, mode);
    if (log != null) {
      r.trainingLog(log).detail("training log", trainLog.toString());
    }
    r.write(file);
    PrintWriter msg = json ? spec.commandLine().getErr() : spec.commandLine().getOut();
    msg.println((json ? "" : System.lineSeparator()) + "report written to " + file);
    msg.flush();
  }
}
