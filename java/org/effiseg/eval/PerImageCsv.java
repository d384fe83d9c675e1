package org.effiseg.eval;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.effiseg.util.AtomicFiles;

/**
 * Per-image metrics as CSV, worst first (the order of the report's table), for spreadsheets and
 * scripts: id, width, height, tp, fp, fn, tn, dice, iou, polyp_fraction. Dice and IoU are empty
 * for an image without a polyp (they are undefined there, see docs/evaluation.md).
 */
public final class PerImageCsv {
  public static final String HEADER = "id,width,height,tp,fp,fn,tn,dice,iou,polyp_fraction";

  private PerImageCsv() {}

  public static String format(List<ImageMetrics> images) {
    StringBuilder b = new StringBuilder(HEADER).append('\n');
    for (ImageMetrics m : images) {
      b.append(quote(m.id())).append(',').append(m.width()).append(',').append(m.height())
          .append(',').append(m.tp()).append(',').append(m.fp()).append(',').append(m.fn())
          .append(',').append(m.tn()).append(',').append(number(m.dice())).append(',')
          .append(number(m.iou())).append(',').append(number(m.groundTruthFraction())).append('\n');
    }
    return b.toString();
  }

  public static void write(Path file, EvaluationResult result) throws IOException {
    AtomicFiles.writeString(file, format(result.imagesWorstFirst()));
  }

  private static String number(double v) {
    return Double.isFinite(v) ? String.format(Locale.ROOT, "%.6f", v) : "";
  }

  private static String quote(String id) {
    return id.contains(",") || id.contains("\"") ? "\"" + id.replace("\"", "\"\"") + "\"" : id;
  }
}
