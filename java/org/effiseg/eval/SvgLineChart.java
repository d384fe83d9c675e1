package org.effiseg.eval;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** A small inline-SVG line chart: one x axis, several named series, nice ticks, a legend. */
final class SvgLineChart {
  /** Okabe–Ito colours, distinguishable under the common colour-vision deficiencies. */
  static final String[] PALETTE = {
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"
  };

  record Series(String name, double[] y) {}

  private static final int WIDTH = 560;
  private static final int HEIGHT = 260;
  private static final int LEFT = 56;
  private static final int RIGHT = 16;
  private static final int TOP = 16;
  private static final int BOTTOM = 40;

  private SvgLineChart() {}

  /** Renders {@code series} over {@code x}; NaN points leave gaps. */
  static String render(String title, String xLabel, double[] x, List<Series> series) {
    double yMin = Double.POSITIVE_INFINITY;
    double yMax = Double.NEGATIVE_INFINITY;
    for (Series s : series) {
      for (double v : s.y()) {
        if (Double.isFinite(v)) {
          yMin = Math.min(yMin, v);
          yMax = Math.max(yMax, v);
        }
      }
    }
    double xMin = Double.POSITIVE_INFINITY;
    double xMax = Double.NEGATIVE_INFINITY;
    for (double v : x) {
      if (Double.isFinite(v)) {
        xMin = Math.min(xMin, v);
        xMax = Math.max(xMax, v);
      }
    }
    StringBuilder svg = new StringBuilder();
    svg.append(
        String.format(
            Locale.ROOT,
            "<svg class=\"chart\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\""
                + " aria-label=\"%s\">",
            WIDTH,
            HEIGHT,
            WIDTH,
            HEIGHT,
            Html.escape(title)));
    if (!(yMin <= yMax) || !(xMin <= xMax)) {
      svg.append("<text x=\"20\" y=\"40\">no data</text></svg>");
      return svg.toString();
    }
    if (yMin == yMax) {
      yMin -= 0.5;
      yMax += 0.5;
    }
    if (xMin == xMax) {
      xMin -= 1;
      xMax += 1;
    }
    double[] yTicks = ticks(yMin, yMax, 5);
    yMin = Math.min(yMin, yTicks[0]);
    yMax = Math.max(yMax, yTicks[yTicks.length - 1]);
    Scale sx = new Scale(xMin, xMax, LEFT, WIDTH - RIGHT);
    Scale sy = new Scale(yMin, yMax, HEIGHT - BOTTOM, TOP);

    svg.append(
        String.format(
            Locale.ROOT,
            "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fff\" stroke=\"#bbb\"/>",
            LEFT,
            TOP,
            WIDTH - LEFT - RIGHT,
            HEIGHT - TOP - BOTTOM));
    for (double t : yTicks) {
      double py = sy.map(t);
      svg.append(
          String.format(
              Locale.ROOT,
              "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
                  + "<text x=\"%d\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\">%s</text>",
              LEFT,
              WIDTH - RIGHT,
              py,
              py,
              LEFT - 6,
              py + 4,
              label(t, yTicks)));
    }
    for (double t : ticks(xMin, xMax, 8)) {
      if (t < xMin || t > xMax) {
        continue;
      }
      double px = sx.map(t);
      svg.append(
          String.format(
              Locale.ROOT,
              "<text x=\"%.1f\" y=\"%d\" class=\"tick\" text-anchor=\"middle\">%s</text>",
              px,
              HEIGHT - BOTTOM + 16,
              label(t, ticks(xMin, xMax, 8))));
    }
    svg.append(
        String.format(
            Locale.ROOT,
            "<text x=\"%d\" y=\"%d\" class=\"axis\" text-anchor=\"middle\">%s</text>",
            (LEFT + WIDTH - RIGHT) / 2,
            HEIGHT - 6,
            Html.escape(xLabel)));

    for (int i = 0; i < series.size(); i++) {
      Series s = series.get(i);
      String colour = PALETTE[i % PALETTE.length];
      svg.append("<path fill=\"none\" stroke-width=\"2\" stroke=\"")
          .append(colour)
          .append("\" d=\"");
      boolean pen = false;
      int points = 0;
      for (int k = 0; k < Math.min(x.length, s.y().length); k++) {
        if (!Double.isFinite(s.y()[k]) || !Double.isFinite(x[k])) {
          pen = false;
          continue;
        }
        svg.append(
            String.format(
                Locale.ROOT, "%s%.1f %.1f ", pen ? "L" : "M", sx.map(x[k]), sy.map(s.y()[k])));
        pen = true;
        points++;
      }
      svg.append("\"/>");
      if (points == 1) { // a lone point has no line: mark it
        for (int k = 0; k < Math.min(x.length, s.y().length); k++) {
          if (Double.isFinite(s.y()[k]) && Double.isFinite(x[k])) {
            svg.append(
                String.format(
                    Locale.ROOT,
                    "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>",
                    sx.map(x[k]),
                    sy.map(s.y()[k]),
                    colour));
          }
        }
      }
    }
    // legend last, on a light box, so no line runs through it
    svg.append(
        String.format(
            Locale.ROOT,
            "<rect x=\"%d\" y=\"%d\" width=\"150\" height=\"%d\" fill=\"#fff\""
                + " fill-opacity=\"0.85\" stroke=\"#ddd\"/>",
            WIDTH - RIGHT - 156,
            TOP + 4,
            16 * series.size() + 6));
    for (int i = 0; i < series.size(); i++) {
      int ly = TOP + 18 + 16 * i;
      svg.append(
          String.format(
              Locale.ROOT,
              "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"/>"
                  + "<text x=\"%d\" y=\"%d\" class=\"legend\">%s</text>",
              WIDTH - RIGHT - 150,
              WIDTH - RIGHT - 130,
              ly - 4,
              ly - 4,
              PALETTE[i % PALETTE.length],
              WIDTH - RIGHT - 124,
              ly,
              Html.escape(series.get(i).name())));
    }
    svg.append("</svg>");
    return svg.toString();
  }

  private record Scale(double from, double to, double pxFrom, double pxTo) {
    double map(double v) {
      return pxFrom + (v - from) / (to - from) * (pxTo - pxFrom);
    }
  }

  /** About {@code count} round tick values covering [lo, hi]. */
  static double[] ticks(double lo, double hi, int count) {
    double raw = (hi - lo) / count;
    double magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
    double step = magnitude;
    for (double m : new double[] {1, 2, 2.5, 5, 10}) {
      step = m * magnitude;
      if (step >= raw) {
        break;
      }
    }
    List<Double> out = new ArrayList<>();
    long first = (long) Math.floor(lo / step + 1e-9);
    long last = (long) Math.ceil(hi / step - 1e-9);
    for (long k = first; k <= last; k++) {
      out.add(k * step);
    }
    return out.stream().mapToDouble(Double::doubleValue).toArray();
  }

  /** A tick value with as many decimals as the tick spacing needs. */
  static String label(double t, double[] ticks) {
    double step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : 1;
    if (step >= 1 && Math.abs(t) < 1e6) {
      return String.format(Locale.ROOT, "%.0f", t);
    }
    if (step < 1e-3 || Math.abs(t) >= 1e6) {
      return String.format(Locale.ROOT, "%.1e", t);
    }
    int decimals = (int) Math.ceil(-Math.log10(step) - 1e-9);
    if (step * Math.pow(10, decimals) % 1 > 1e-6) {
      decimals++;
    }
    return String.format(Locale.ROOT, "%." + decimals + "f", t);
  }
}
