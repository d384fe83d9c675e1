package org.effiseg.eval;

import java.awt.Color;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.effiseg.util.AtomicFiles;

/**
 * One self-contained HTML page per evaluation (inline CSS and SVG, images as base64 PNG data URIs,
 * nothing fetched): the metric table, training curves when a {@link TrainingLog} is given, the
 * error breakdown, outcome overlays of the worst images with a legend, and every image's metrics
 * sorted worst first.
 */
public final class EvaluationReport {
  private final EvaluationResult result;
  private String title = "effiseg evaluation";
  private final Map<String, String> details = new LinkedHashMap<>();
  private TrainingLog trainingLog;

  public EvaluationReport(EvaluationResult result) {
    this.result = result;
  }

  public EvaluationReport title(String title) {
    this.title = title;
    return this;
  }

  /** A line under the title, e.g. {@code detail("split", "test")}; shown in insertion order. */
  public EvaluationReport detail(String name, String value) {
    details.put(name, value);
    return this;
  }

  public EvaluationReport trainingLog(TrainingLog log) {
    this.trainingLog = log;
    return this;
  }

  /** Writes the page atomically (temp file, then rename). */
  public void write(Path file) throws IOException {
    AtomicFiles.writeString(file, toHtml());
  }

  public String toHtml() {
    StringBuilder h = new StringBuilder(1 << 16);
    h.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>")
        .append(Html.escape(title))
        .append("</title>\n<style>\n")
        .append(Html.CSS)
        .append("</style>\n</head>\n<body>\n<h1>")
        .append(Html.escape(title))
        .append("</h1>\n");
    if (!details.isEmpty()) {
      h.append("<dl class=\"details\">");
      details.forEach(
          (k, v) ->
              h.append("<dt>")
                  .append(Html.escape(k))
                  .append("</dt><dd>")
                  .append(Html.escape(v))
                  .append("</dd>"));
      h.append("</dl>\n");
    }
    metrics(h);
    if (trainingLog != null) {
      curves(h);
    }
    breakdown(h);
    if (!result.worst().isEmpty()) {
      worst(h);
    }
    perImage(h);
    h.append("</body>\n</html>\n");
    return h.toString();
  }

  private void metrics(StringBuilder h) {
    MetricSummary s = result.summary();
    h.append("<section id=\"metrics\">\n<h2>Metrics</h2>\n<table class=\"metrics\">\n")
        .append(
            "<thead><tr><th>metric</th><th>value</th><th>computed as</th></tr></thead>\n<tbody>\n");
    String mean = "mean over the " + s.scoredImages() + " images with a polyp";
    row(h, "Dice", Html.number(s.dice()), "per image 2TP/(2TP+FP+FN), " + mean);
    row(h, "IoU", Html.number(s.iou()), "per image TP/(TP+FP+FN), " + mean);
    row(h, "Precision", Html.number(s.precision()), "TP/(TP+FP) over all pixels of the split");
    row(h, "Recall", Html.number(s.recall()), "TP/(TP+FN) over all pixels of the split");
    row(h, "F1", Html.number(s.f1()), "2TP/(2TP+FP+FN) over all pixels of the split");
    h.append("</tbody>\n</table>\n<p class=\"note\">")
        .append(s.images())
        .append(" images; pixels: TP ")
        .append(s.tp())
        .append(", FP ")
        .append(s.fp())
        .append(", FN ")
        .append(s.fn())
        .append(", TN ")
        .append(s.tn())
        .append(
            ". Conventions follow the EffiSegNet reference code (MONAI); see"
                + " docs/evaluation.md.</p>\n"
                + "</section>\n");
  }

  private void curves(StringBuilder h) {
    TrainingLog log = trainingLog;
    double[] epoch = log.column("epoch");
    List<SvgLineChart.Series> losses = new ArrayList<>();
    List<SvgLineChart.Series> npd = new ArrayList<>();
    List<SvgLineChart.Series> quality = new ArrayList<>();
    for (String c : log.columns()) {
      // a weight average's columns (val_dice_ema, ...) go with the raw model's
      String kind = c.endsWith("_ema") ? c.substring(0, c.length() - "_ema".length()) : c;
      if (kind.endsWith("npd_loss")) {
        // unweighted and on a scale of its own (tens to hundreds): a chart of its own
        npd.add(new SvgLineChart.Series(c, log.column(c)));
      } else if (kind.endsWith("loss")) {
        losses.add(new SvgLineChart.Series(c, log.column(c)));
      } else if (kind.endsWith("_dice") || kind.endsWith("_iou")) {
        quality.add(new SvgLineChart.Series(c, log.column(c)));
      }
    }
    h.append("<section id=\"curves\">\n<h2>Training curves</h2>\n<p class=\"note\">")
        .append(log.epochs())
        .append(" epochs");
    if (log.has("val_dice")) {
      double[] d = log.column("val_dice");
      int best = -1;
      for (int i = 0; i < d.length; i++) {
        if (!Double.isNaN(d[i]) && (best < 0 || d[i] > d[best])) {
          best = i;
        }
      }
      if (best >= 0) {
        h.append("; best validation Dice ")
            .append(Html.number(d[best]))
            .append(" at epoch ")
            .append(String.format("%.0f", epoch[best]));
      }
    }
    h.append(".</p>\n<div class=\"charts\">\n");
    if (!losses.isEmpty()) {
      chart(h, "Loss terms", epoch, losses);
    }
    if (!quality.isEmpty()) {
      chart(h, "Dice and IoU", epoch, quality);
    }
    if (!npd.isEmpty()) {
      chart(h, "Near-pixel-diff term (unweighted)", epoch, npd);
    }
    if (log.has("lr")) {
      chart(h, "Learning rate", epoch, List.of(new SvgLineChart.Series("lr", log.column("lr"))));
    }
    h.append("</div>\n</section>\n");
  }

  private static void chart(StringBuilder h, String name, double[] x, List<SvgLineChart.Series> s) {
    h.append("<figure class=\"chart\"><figcaption>")
        .append(Html.escape(name))
        .append("</figcaption>")
        .append(SvgLineChart.render(name, "epoch", x, s))
        .append("</figure>\n");
  }

  private void breakdown(StringBuilder h) {
    ErrorBreakdown.Result b = result.breakdown();
    h.append("<section id=\"breakdown\">\n<h2>Where the errors are</h2>\n");
    h.append(
            "<h3>By polyp size (ground-truth area)</h3>\n"
                + "<table>\n"
                + "<thead><tr><th>size</th><th>area</th>")
        .append(
            "<th>images</th><th>mean Dice</th><th>mean IoU</th><th>TP px</th><th>FP px</th><th>FN"
                + " px</th></tr></thead>\n"
                + "<tbody>\n");
    for (ErrorBreakdown.SizeBin bin : b.sizeBins()) {
      cells(
          h,
          bin.label(),
          bin.range(),
          String.valueOf(bin.images()),
          Html.number(bin.meanDice()),
          Html.number(bin.meanIou()),
          String.valueOf(bin.tp()),
          String.valueOf(bin.fp()),
          String.valueOf(bin.fn()));
    }
    h.append("</tbody>\n</table>\n");
    long fp = result.summary().fp();
    long fn = result.summary().fn();
    h.append("<h3>Near the polyp boundary vs farther away</h3>\n");
    regions(h, List.of(b.nearBoundary(), b.awayFromBoundary()), fp, fn);
    h.append(
        "<h3>Left-hand corners (where Kvasir images carry black boxes and overlays) vs"
            + " elsewhere</h3>\n");
    regions(h, List.of(b.topLeft(), b.bottomLeft(), b.elsewhere()), fp, fn);
    h.append(
            "<p class=\"note\">Share of pixels: the region's part of all pixels scored. Rates are"
                + " errors per 10,000 pixels of the region, so regions of different size"
                + " compare.</p>\n")
        .append("</section>\n");
  }

  private static void regions(
      StringBuilder h, List<ErrorBreakdown.Region> regions, long fp, long fn) {
    long total = regions.stream().mapToLong(ErrorBreakdown.Region::pixels).sum();
    h.append(
            "<table>\n"
                + "<thead><tr><th>region</th><th>share of pixels</th><th>FP px</th><th>share of"
                + " FP</th>")
        .append(
            "<th>FP / 10k px</th><th>FN px</th><th>share of FN</th><th>FN / 10k"
                + " px</th></tr></thead>\n"
                + "<tbody>\n");
    for (ErrorBreakdown.Region r : regions) {
      cells(
          h,
          r.label(),
          Html.percent(MetricSummary.ratio(r.pixels(), total)),
          String.valueOf(r.fp()),
          Html.percent(MetricSummary.ratio(r.fp(), fp)),
          Html.rate(r.fpPer10k()),
          String.valueOf(r.fn()),
          Html.percent(MetricSummary.ratio(r.fn(), fn)),
          Html.rate(r.fnPer10k()));
    }
    h.append("</tbody>\n</table>\n");
  }

  private void worst(StringBuilder h) {
    List<EvaluationResult.WorstImage> worst = result.worst();
    h.append("<section id=\"worst\">\n<h2>The ")
        .append(worst.size())
        .append(" worst images</h2>\n")
        .append("<ul class=\"legend\">")
        .append(swatch(Overlays.TRUE_POSITIVE, "true positive (polyp found)"))
        .append(swatch(Overlays.FALSE_POSITIVE, "false positive (predicted, not polyp)"))
        .append(swatch(Overlays.FALSE_NEGATIVE, "false negative (polyp missed)"))
        .append("<li><span class=\"swatch none\"></span>true negative (unchanged)</li></ul>\n")
        .append("<div class=\"overlays\">\n");
    int rank = 1;
    for (EvaluationResult.WorstImage w : worst) {
      ImageMetrics m = w.metrics();
      h.append("<figure class=\"overlay\">");
      if (w.image() != null) {
        h.append("<img class=\"input\" alt=\"image ")
            .append(Html.escape(m.id()))
            .append("\" src=\"")
            .append(Html.pngDataUri(w.image()))
            .append("\">");
      }
      h.append("<img class=\"outcome\" alt=\"outcome overlay ")
          .append(Html.escape(m.id()))
          .append("\" src=\"")
          .append(Html.pngDataUri(w.overlay()))
          .append("\">")
          .append("<figcaption><b>#")
          .append(rank++)
          .append(" ")
          .append(Html.escape(m.id()))
          .append("</b> · Dice ")
          .append(Html.number(m.dice()))
          .append(" · polyp ")
          .append(Html.percent(m.groundTruthFraction()))
          .append(" · FP ")
          .append(m.fp())
          .append(" · FN ")
          .append(m.fn())
          .append("</figcaption></figure>\n");
    }
    h.append("</div>\n</section>\n");
  }

  private static String swatch(Color c, String label) {
    return String.format(
        "<li><span class=\"swatch\" style=\"background:#%06x\"></span>%s</li>",
        c.getRGB() & 0xffffff, Html.escape(label));
  }

  private void perImage(StringBuilder h) {
    Map<ImageMetrics, ErrorBreakdown.ImageErrors> errors = new IdentityHashMap<>();
    List<ErrorBreakdown.ImageErrors> e = result.breakdown().images();
    for (int i = 0; i < result.images().size() && i < e.size(); i++) {
      errors.put(result.images().get(i), e.get(i));
    }
    h.append(
            "<section id=\"per-image\">\n"
                + "<h2>Per-image metrics, worst first</h2>\n"
                + "<table class=\"per-image\">\n")
        .append("<thead><tr><th>#</th><th>image</th><th>Dice</th><th>IoU</th><th>polyp area</th>")
        .append(
            "<th>TP px</th><th>FP px</th><th>FN px</th><th>FP near edge</th><th>FN near edge</th>")
        .append("<th>FP in corners</th><th>FN in corners</th></tr></thead>\n<tbody>\n");
    int rank = 1;
    for (ImageMetrics m : result.imagesWorstFirst()) {
      ErrorBreakdown.ImageErrors x = errors.get(m);
      cells(
          h,
          String.valueOf(rank++),
          m.id(),
          Html.number(m.dice()),
          Html.number(m.iou()),
          Html.percent(m.groundTruthFraction()),
          String.valueOf(m.tp()),
          String.valueOf(m.fp()),
          String.valueOf(m.fn()),
          x == null ? "" : String.valueOf(x.fpNearBoundary()),
          x == null ? "" : String.valueOf(x.fnNearBoundary()),
          x == null ? "" : String.valueOf(x.fpCorners()),
          x == null ? "" : String.valueOf(x.fnCorners()));
    }
    h.append("</tbody>\n</table>\n</section>\n");
  }

  private static void row(StringBuilder h, String name, String value, String how) {
    h.append("<tr><th scope=\"row\">")
        .append(Html.escape(name))
        .append("</th><td class=\"num\">")
        .append(value)
        .append("</td><td class=\"how\">")
        .append(Html.escape(how))
        .append("</td></tr>\n");
  }

  private static void cells(StringBuilder h, String... values) {
    h.append("<tr>");
    for (String v : values) {
      h.append("<td>").append(Html.escape(v)).append("</td>");
    }
    h.append("</tr>\n");
  }
}
