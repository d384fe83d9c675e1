package org.effiseg.eval;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.effiseg.util.AtomicFiles;

/**
 * A study table: per preset, the mean ± sample standard deviation (n − 1 in the denominator)
 * over seeds of the test Dice, IoU, precision, recall and F1, and every seed's value; published
 * scores beside them where given. Written as Markdown, CSV (one file per preset, one per run)
 * and a self-contained HTML page with a strip plot per metric (every seed a dot per preset).
 */
public final class StudyTable {
  /** The metrics, as named in {@code scores-<split>.json}. */
  public static final List<String> METRICS = List.of("dice", "iou", "precision", "recall", "f1");
  private static final Map<String, String> LABELS =
      Map.of("dice", "Dice", "iou", "IoU", "precision", "precision", "recall", "recall", "f1", "F1");
  private static final String STD_NOTE =
      "mean ± sample standard deviation over seeds (n − 1 in the denominator; none for n = 1)";

  /** One run's scores: NaN where undefined or missing. */
  public record Run(String preset, long seed, String name, Map<String, Double> scores) {
    double score(String metric) {
      Double v = scores.get(metric);
      return v == null ? Double.NaN : v;
    }
  }

  /** A preset's spread of one metric over the runs that have it. */
  public record Summary(int n, double mean, double std) {
    String text() {
      if (n == 0) {
        return "n/a";
      }
      return n == 1 ? Html.number(mean) : Html.number(mean) + " ± " + Html.number(std);
    }
  }

  private final String title;
  private final List<String> presets;
  private final List<Run> runs;
  private final PublishedScores published;
  private final Map<String, String> details;

  /**
   * @param presets the presets in table order (a preset without runs gets an empty row)
   * @param published scores to show beside, or null
   * @param details lines under the title (sweep, split, checkpoint, …), in order
   */
  public StudyTable(String title, List<String> presets, List<Run> runs, PublishedScores published,
      Map<String, String> details) {
    this.title = title;
    this.presets = List.copyOf(presets);
    this.runs = List.copyOf(runs);
    this.published = published;
    this.details = new LinkedHashMap<>(details);
  }

  public static double mean(double[] values) {
    double sum = 0;
    for (double v : values) {
      sum += v;
    }
    return values.length == 0 ? Double.NaN : sum / values.length;
  }

  /** The sample standard deviation, sqrt(Σ(x − mean)² / (n − 1)); NaN for fewer than two values. */
  public static double sampleStd(double[] values) {
    if (values.length < 2) {
      return Double.NaN;
    }
    double mean = mean(values);
    double ss = 0;
    for (double v : values) {
      ss += (v - mean) * (v - mean);
    }
    return Math.sqrt(ss / (values.length - 1));
  }

  /** The runs of {@code preset}, by seed. */
  public List<Run> runsOf(String preset) {
    return runs.stream().filter(r -> r.preset().equals(preset))
        .sorted(java.util.Comparator.comparingLong(Run::seed)).toList();
  }

  public Summary summary(String preset, String metric) {
    double[] values = runsOf(preset).stream().mapToDouble(r -> r.score(metric))
        .filter(Double::isFinite).toArray();
    return new Summary(values.length, mean(values), sampleStd(values));
  }

  private List<String> publishedMetrics() {
    return published == null ? List.of() : published.metrics();
  }

  private String publishedHeader(String metric) {
    return LABELS.get(metric) + " (" + published.name() + ")";
  }

  public String markdown() {
    StringBuilder md = new StringBuilder("# ").append(title).append("\n\n");
    details.forEach((k, v) -> md.append("- ").append(k).append(": ").append(v).append('\n'));
    md.append("- ").append(STD_NOTE).append('\n');
    if (published != null) {
      md.append("- ").append(published.name()).append(": ").append(published.description()).append('\n');
    }
    List<String> header = new ArrayList<>(List.of("preset", "n"));
    METRICS.forEach(m -> header.add(LABELS.get(m)));
    publishedMetrics().forEach(m -> header.add(publishedHeader(m)));
    md.append('\n');
    markdownRow(md, header);
    markdownRule(md, header.size());
    for (String preset : presets) {
      List<String> row = new ArrayList<>(List.of(preset, Integer.toString(runsOf(preset).size())));
      METRICS.forEach(m -> row.add(summary(preset, m).text()));
      publishedMetrics().forEach(m -> row.add(Html.number(published.score(preset, m))));
      markdownRow(md, row);
    }
    md.append("\n## Per seed\n\n");
    List<String> perSeed = new ArrayList<>(List.of("preset", "seed"));
    METRICS.forEach(m -> perSeed.add(LABELS.get(m)));
    markdownRow(md, perSeed);
    markdownRule(md, perSeed.size());
    for (String preset : presets) {
      for (Run r : runsOf(preset)) {
        List<String> row = new ArrayList<>(List.of(preset, Long.toString(r.seed())));
        METRICS.forEach(m -> row.add(Html.number(r.score(m))));
        markdownRow(md, row);
      }
    }
    return md.toString();
  }

  private static void markdownRow(StringBuilder md, List<String> cells) {
    md.append("| ").append(String.join(" | ", cells)).append(" |\n");
  }

  private static void markdownRule(StringBuilder md, int columns) {
    md.append("|---|").append("---:|".repeat(columns - 1)).append('\n');
  }

  /** One line per preset: n, then mean and std of each metric, then the published values. */
  public String summaryCsv() {
    List<String> header = new ArrayList<>(List.of("preset", "n"));
    METRICS.forEach(m -> {
      header.add(m + "_mean");
      header.add(m + "_std");
    });
    publishedMetrics().forEach(m -> header.add(published.name() + "_" + m));
    StringBuilder csv = new StringBuilder(String.join(",", header)).append('\n');
    for (String preset : presets) {
      List<String> row = new ArrayList<>(List.of(preset, Integer.toString(runsOf(preset).size())));
      METRICS.forEach(m -> {
        Summary s = summary(preset, m);
        row.add(csvNumber(s.mean()));
        row.add(csvNumber(s.std()));
      });
      publishedMetrics().forEach(m -> row.add(csvNumber(published.score(preset, m))));
      csv.append(String.join(",", row)).append('\n');
    }
    return csv.toString();
  }

  /** One line per run: preset, seed, run name, each metric. */
  public String runsCsv() {
    StringBuilder csv = new StringBuilder("preset,seed,run," + String.join(",", METRICS)).append('\n');
    for (String preset : presets) {
      for (Run r : runsOf(preset)) {
        List<String> row = new ArrayList<>(List.of(preset, Long.toString(r.seed()), r.name()));
        METRICS.forEach(m -> row.add(csvNumber(r.score(m))));
        csv.append(String.join(",", row)).append('\n');
      }
    }
    return csv.toString();
  }

  /** Full precision, empty where undefined. */
  private static String csvNumber(double v) {
    return Double.isFinite(v) ? Double.toString(v) : "";
  }

  public String html() {
    StringBuilder h = new StringBuilder(1 << 15);
    h.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>")
        .append(Html.escape(title)).append("</title>\n<style>\n").append(Html.CSS)
        .append("</style>\n</head>\n<body>\n<h1>").append(Html.escape(title)).append("</h1>\n")
        .append("<dl class=\"details\">");
    details.forEach((k, v) -> h.append("<dt>").append(Html.escape(k)).append("</dt><dd>")
        .append(Html.escape(v)).append("</dd>"));
    h.append("<dt>spread</dt><dd>").append(Html.escape(STD_NOTE)).append("</dd>");
    if (published != null) {
      h.append("<dt>").append(Html.escape(published.name())).append("</dt><dd>")
          .append(Html.escape(published.description())).append("</dd>");
    }
    h.append("</dl>\n<section id=\"summary\">\n<h2>Per preset</h2>\n<table>\n<thead><tr><th>preset</th><th>n</th>");
    METRICS.forEach(m -> h.append("<th>").append(LABELS.get(m)).append("</th>"));
    publishedMetrics().forEach(m -> h.append("<th>").append(Html.escape(publishedHeader(m))).append("</th>"));
    h.append("</tr></thead>\n<tbody>\n");
    for (String preset : presets) {
      h.append("<tr><td>").append(Html.escape(preset)).append("</td><td>").append(runsOf(preset).size()).append("</td>");
      METRICS.forEach(m -> h.append("<td>").append(Html.escape(summary(preset, m).text())).append("</td>"));
      publishedMetrics().forEach(m -> h.append("<td>").append(Html.number(published.score(preset, m))).append("</td>"));
      h.append("</tr>\n");
    }
    h.append("</tbody>\n</table>\n</section>\n<section id=\"strips\">\n<h2>Every seed</h2>\n")
        .append("<p class=\"note\">Each dot is one seed's run; the bar is the mean, the whisker mean ± sd")
        .append(published == null ? "" : "; the hollow diamond is the " + Html.escape(published.name()) + "'s published value")
        .append(".</p>\n<div class=\"charts\">\n");
    for (String metric : METRICS) {
      List<SvgStripPlot.Strip> strips = new ArrayList<>();
      for (String preset : presets) {
        List<Run> of = runsOf(preset);
        strips.add(new SvgStripPlot.Strip(preset, of.stream().mapToLong(Run::seed).toArray(),
            of.stream().mapToDouble(r -> r.score(metric)).toArray(),
            published == null ? Double.NaN : published.score(preset, metric)));
      }
      h.append("<figure class=\"chart\"><figcaption>").append(LABELS.get(metric)).append("</figcaption>")
          .append(SvgStripPlot.render(LABELS.get(metric), strips, published == null ? "" : published.name()))
          .append("</figure>\n");
    }
    h.append("</div>\n</section>\n<section id=\"runs\">\n<h2>Per seed</h2>\n<table>\n<thead><tr><th>preset</th><th>seed</th><th>run</th>");
    METRICS.forEach(m -> h.append("<th>").append(LABELS.get(m)).append("</th>"));
    h.append("</tr></thead>\n<tbody>\n");
    for (String preset : presets) {
      for (Run r : runsOf(preset)) {
        h.append("<tr><td>").append(Html.escape(preset)).append("</td><td>").append(r.seed())
            .append("</td><td>").append(Html.escape(r.name())).append("</td>");
        METRICS.forEach(m -> h.append("<td>").append(Html.number(r.score(m))).append("</td>"));
        h.append("</tr>\n");
      }
    }
    return h.append("</tbody>\n</table>\n</section>\n</body>\n</html>\n").toString();
  }

  /** Writes {@code <base>.md}, {@code <base>.csv}, {@code <base>-runs.csv} and {@code <base>.html}. */
  public List<Path> write(Path base) throws IOException {
    String name = base.getFileName().toString();
    Path md = base.resolveSibling(name + ".md");
    Path csv = base.resolveSibling(name + ".csv");
    Path runsCsv = base.resolveSibling(name + "-runs.csv");
    Path html = base.resolveSibling(name + ".html");
    AtomicFiles.writeString(md, markdown());
    AtomicFiles.writeString(csv, summaryCsv());
    AtomicFiles.writeString(runsCsv, runsCsv());
    AtomicFiles.writeString(html, html());
    return List.of(md, csv, runsCsv, html);
  }
}
