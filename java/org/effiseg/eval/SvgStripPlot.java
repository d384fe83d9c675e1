package org.effiseg.eval;

import java.util.List;
import java.util.Locale;

/**
 * A small inline-SVG strip plot: one column per group (a preset), every value of the group a dot
 * (one per seed, spread sideways so equal values stay visible), the group's mean a bar across
 * the column, mean ± sample standard deviation a whisker beside it, and an optional published
 * value a hollow diamond.
 */
final class SvgStripPlot {
  /** One column: its label, the seeds and their values (NaN = no value), a published value or NaN. */
  record Strip(String label, long[] seeds, double[] values, double published) {}

  private static final int COLUMN = 110;
  private static final int HEIGHT = 250;
  private static final int LEFT = 56;
  private static final int RIGHT = 16;
  private static final int TOP = 14;
  private static final int BOTTOM = 34;
  private static final String DOT = SvgLineChart.PALETTE[0];
  private static final String PUBLISHED = SvgLineChart.PALETTE[1];

  private SvgStripPlot() {}

  static String render(String title, List<Strip> strips, String publishedLabel) {
    int width = LEFT + RIGHT + COLUMN * Math.max(strips.size(), 1);
    double lo = Double.POSITIVE_INFINITY;
    double hi = Double.NEGATIVE_INFINITY;
    for (Strip s : strips) {
      double[] finite = finite(s.values());
      double sd = StudyTable.sampleStd(finite);
      double mean = StudyTable.mean(finite);
      for (double v : new double[] {mean - sd, mean + sd, s.published()}) {
        if (Double.isFinite(v)) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
      }
      for (double v : finite) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
    StringBuilder svg = new StringBuilder();
    svg.append(String.format(Locale.ROOT,
        "<svg class=\"chart\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"%s\">",
        width, HEIGHT, width, HEIGHT, Html.escape(title)));
    if (!(lo <= hi)) {
      return svg.append("<text x=\"20\" y=\"40\">no data</text></svg>").toString();
    }
    double pad = Math.max((hi - lo) * 0.15, 0.002);
    double[] ticks = SvgLineChart.ticks(lo - pad, hi + pad, 5);
    double yMin = ticks[0];
    double yMax = ticks[ticks.length - 1];
    double plotBottom = HEIGHT - BOTTOM;
    java.util.function.DoubleUnaryOperator y = v -> plotBottom - (v - yMin) / (yMax - yMin) * (plotBottom - TOP);

    svg.append(String.format(Locale.ROOT,
        "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fff\" stroke=\"#bbb\"/>",
        LEFT, TOP, width - LEFT - RIGHT, HEIGHT - TOP - BOTTOM));
    for (double t : ticks) {
      double py = y.applyAsDouble(t);
      svg.append(String.format(Locale.ROOT,
          "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
              + "<text x=\"%d\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\">%s</text>",
          LEFT, width - RIGHT, py, py, LEFT - 6, py + 4, SvgLineChart.label(t, ticks)));
    }
    for (int i = 0; i < strips.size(); i++) {
      strip(svg, strips.get(i), LEFT + (i + 0.5) * COLUMN, y, publishedLabel);
    }
    return svg.append("</svg>").toString();
  }

  private static double[] finite(double[] values) {
    return java.util.Arrays.stream(values).filter(Double::isFinite).toArray();
  }

  private static void strip(StringBuilder svg, Strip s, double cx,
      java.util.function.DoubleUnaryOperator y, String publishedLabel) {
    svg.append(String.format(Locale.ROOT,
        "<text x=\"%.1f\" y=\"%d\" class=\"axis\" text-anchor=\"middle\">%s</text>",
        cx, HEIGHT - BOTTOM + 18, Html.escape(s.label())));
    double[] finite = finite(s.values());
    if (finite.length > 0) {
      double mean = StudyTable.mean(finite);
      double sd = StudyTable.sampleStd(finite);
      if (Double.isFinite(sd)) {
        double x = cx + 26;
        svg.append(String.format(Locale.ROOT,
            "<path d=\"M%.1f %.1f H%.1f M%.1f %.1f V%.1f M%.1f %.1f H%.1f\" stroke=\"#555\" fill=\"none\">"
                + "<title>mean ± sd: %s ± %s</title></path>",
            x - 4, y.applyAsDouble(mean + sd), x + 4, x, y.applyAsDouble(mean + sd), y.applyAsDouble(mean - sd),
            x - 4, y.applyAsDouble(mean - sd), x + 4, Html.number(mean), Html.number(sd)));
      }
      svg.append(String.format(Locale.ROOT,
          "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#222\" stroke-width=\"2\">"
              + "<title>mean %s</title></line>",
          cx - 20, cx + 20, y.applyAsDouble(mean), y.applyAsDouble(mean), Html.number(mean)));
    }
    int n = s.values().length;
    double spread = n > 1 ? Math.min(8, 32.0 / (n - 1)) : 0;
    for (int k = 0; k < n; k++) {
      double v = s.values()[k];
      if (!Double.isFinite(v)) {
        continue;
      }
      svg.append(String.format(Locale.ROOT,
          "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\" fill-opacity=\"0.75\"><title>seed %d: %s</title></circle>",
          cx + (k - (n - 1) / 2.0) * spread, y.applyAsDouble(v), DOT, s.seeds()[k], Html.number(v)));
    }
    if (Double.isFinite(s.published())) {
      double py = y.applyAsDouble(s.published());
      svg.append(String.format(Locale.ROOT,
          "<path d=\"M%.1f %.1f L%.1f %.1f L%.1f %.1f L%.1f %.1f Z\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\">"
              + "<title>%s: %s</title></path>",
          cx - 36, py - 6, cx - 30, py, cx - 36, py + 6, cx - 42, py, PUBLISHED,
          Html.escape(publishedLabel), Html.number(s.published())));
    }
  }
}
