package org.effiseg.eval;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Base64;
import java.util.Locale;
import javax.imageio.ImageIO;

/** HTML helpers for effiseg's pages (reports, study tables): style, escaping, numbers, PNGs. */
final class Html {
  /** The house style of effiseg's HTML pages (reports, study tables). */
  static final String CSS =
      """
      body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
             max-width: 1200px; margin: 24px auto; padding: 0 16px; background: #fafafa; }
      h1 { font-size: 24px; margin-bottom: 4px; }
      h2 { font-size: 19px; border-bottom: 2px solid #ddd; padding-bottom: 4px; margin-top: 32px; }
      h3 { font-size: 15px; margin: 18px 0 6px; }
      dl.details { display: grid; grid-template-columns: max-content auto; gap: 2px 12px; color: #555; }
      dl.details dt { font-weight: 600; } dl.details dd { margin: 0; }
      table { border-collapse: collapse; background: #fff; margin: 6px 0; }
      th, td { padding: 4px 10px; border-bottom: 1px solid #e4e4e4; text-align: right; }
      th:first-child, td:first-child { text-align: left; }
      thead th { background: #f0f0f0; font-weight: 600; }
      tbody tr:nth-child(even) { background: #f8f8f8; }
      table.metrics td.num { font-size: 16px; font-weight: 600; font-variant-numeric: tabular-nums; }
      table.metrics td.how, table.metrics th:last-child { text-align: left; color: #666; }
      table.per-image td:nth-child(2) { text-align: left; }
      td { font-variant-numeric: tabular-nums; }
      .note { color: #666; font-size: 13px; }
      .charts { display: flex; flex-wrap: wrap; gap: 16px; }
      figure.chart { margin: 0; background: #fff; border: 1px solid #e4e4e4; padding: 8px; }
      figure.chart figcaption { font-weight: 600; margin-bottom: 4px; }
      svg.chart text { font-size: 11px; fill: #444; }
      svg.chart text.axis { font-size: 12px; }
      ul.legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 18px; }
      ul.legend li { display: flex; align-items: center; gap: 6px; }
      .swatch { display: inline-block; width: 16px; height: 16px; border: 1px solid #888; }
      .swatch.none { background: repeating-linear-gradient(45deg, #ccc 0 3px, #fff 3px 6px); }
      .overlays { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 14px; }
      figure.overlay { margin: 0; background: #fff; border: 1px solid #e4e4e4; padding: 6px; }
      figure.overlay img { width: calc(50% - 3px); image-rendering: auto; }
      figure.overlay img.outcome:only-child, figure.overlay img.outcome:first-child { width: 100%; }
      figure.overlay figcaption { font-size: 12px; color: #444; margin-top: 4px; }
      """;

  private Html() {}

  static String escape(String s) {
    StringBuilder b = new StringBuilder(s.length());
    for (char c : s.toCharArray()) {
      switch (c) {
        case '&' -> b.append("&amp;");
        case '<' -> b.append("&lt;");
        case '>' -> b.append("&gt;");
        case '"' -> b.append("&quot;");
        case '\'' -> b.append("&#39;");
        default -> b.append(c);
      }
    }
    return b.toString();
  }

  /** Four decimals; {@code n/a} for NaN. */
  static String number(double v) {
    return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%.4f", v);
  }

  /** One decimal; {@code n/a} for NaN. */
  static String rate(double v) {
    return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%.1f", v);
  }

  static String percent(double fraction) {
    return Double.isNaN(fraction) ? "n/a" : String.format(Locale.ROOT, "%.1f %%", 100 * fraction);
  }

  /** A {@code data:image/png;base64,…} URI. */
  static String pngDataUri(BufferedImage image) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try {
      ImageIO.write(image, "png", bytes);
    } catch (IOException e) {
      throw new UncheckedIOException(e); // writing to memory does not fail
    }
    return "data:image/png;base64," + Base64.getEncoder().encodeToString(bytes.toByteArray());
  }
}
