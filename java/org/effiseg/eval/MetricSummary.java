package org.effiseg.eval;

/**
 * The split's scores. {@code dice} and {@code iou} are means of per-image values over the {@code
 * scoredImages} images with a non-empty ground truth (MONAI, reduction "mean"); {@code precision},
 * {@code recall} and {@code f1} come from the confusion counts summed over the whole split (micro).
 * An undefined value (nothing to average, a zero denominator) is {@code NaN}.
 */
public record MetricSummary(
    int images,
    int scoredImages,
    long tp,
    long fp,
    long fn,
    long tn,
    double dice,
    double iou,
    double precision,
    double recall,
    double f1) {

  /** Sums the counts of {@code images} and averages Dice/IoU over those with a polyp. */
  static MetricSummary over(java.util.List<ImageMetrics> images) {
    long tp = 0;
    long fp = 0;
    long fn = 0;
    long tn = 0;
    double diceSum = 0;
    double iouSum = 0;
    int scored = 0;
    for (ImageMetrics m : images) {
      tp += m.tp();
      fp += m.fp();
      fn += m.fn();
      tn += m.tn();
      if (!m.groundTruthEmpty()) {
        diceSum += m.dice();
        iouSum += m.iou();
        scored++;
      }
    }
    return of(
        images.size(),
        scored,
        tp,
        fp,
        fn,
        tn,
        scored == 0 ? Double.NaN : diceSum / scored,
        scored == 0 ? Double.NaN : iouSum / scored);
  }

  /** Summarises summed counts and per-image means. */
  static MetricSummary of(
      int images, int scoredImages, long tp, long fp, long fn, long tn, double dice, double iou) {
    return new MetricSummary(
        images,
        scoredImages,
        tp,
        fp,
        fn,
        tn,
        dice,
        iou,
        ratio(tp, tp + fp),
        ratio(tp, tp + fn),
        ratio(2 * tp, 2 * tp + fp + fn));
  }

  static double ratio(long numerator, long denominator) {
    return denominator == 0 ? Double.NaN : (double) numerator / denominator;
  }

  /**
   * The scores as the CLI's {@code --json} object: split, images, dice, iou, precision, recall,
   * f1 (null where undefined).
   */
  public com.google.gson.JsonObject toJson(String split) {
    com.google.gson.JsonObject o = new com.google.gson.JsonObject();
    o.addProperty("split", split);
    o.addProperty("images", images);
    o.add("dice", number(dice));
    o.add("iou", number(iou));
    o.add("precision", number(precision));
    o.add("recall", number(recall));
    o.add("f1", number(f1));
    return o;
  }

  private static com.google.gson.JsonElement number(double v) {
    return Double.isFinite(v) ? new com.google.gson.JsonPrimitive(v) : com.google.gson.JsonNull.INSTANCE;
  }
}
