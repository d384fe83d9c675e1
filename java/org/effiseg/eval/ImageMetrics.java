package org.effiseg.eval;

/**
 * One image's confusion counts and the per-image scores derived from them. Dice and IoU follow
 * MONAI's {@code DiceMetric} / {@code MeanIoU} with {@code ignore_empty=True}: they are {@code NaN}
 * when the ground truth is empty, and such images are left out of the split's mean.
 */
public record ImageMetrics(String id, int width, int height, long tp, long fp, long fn, long tn) {

  /** Counts the four outcomes of {@code prediction} against {@code groundTruth}. */
  public static ImageMetrics of(String id, BinaryMask prediction, BinaryMask groundTruth) {
    if (!prediction.sameSize(groundTruth)) {
      throw new IllegalArgumentException(
          id
              + ": prediction is "
              + prediction.width()
              + "x"
              + prediction.height()
              + " but ground truth is "
              + groundTruth.width()
              + "x"
              + groundTruth.height());
    }
    long tp = 0;
    long fp = 0;
    long fn = 0;
    int n = prediction.width() * prediction.height();
    for (int i = 0; i < n; i++) {
      boolean p = prediction.get(i);
      boolean g = groundTruth.get(i);
      if (p && g) {
        tp++;
      } else if (p) {
        fp++;
      } else if (g) {
        fn++;
      }
    }
    return new ImageMetrics(
        id, prediction.width(), prediction.height(), tp, fp, fn, n - tp - fp - fn);
  }

  public boolean groundTruthEmpty() {
    return tp + fn == 0;
  }

  /** {@code 2TP / (2TP + FP + FN)}; {@code NaN} when the ground truth is empty (MONAI). */
  public double dice() {
    return groundTruthEmpty() ? Double.NaN : 2.0 * tp / (2.0 * tp + fp + fn);
  }

  /** {@code TP / (TP + FP + FN)}; {@code NaN} when the ground truth is empty (MONAI). */
  public double iou() {
    return groundTruthEmpty() ? Double.NaN : (double) tp / (tp + fp + fn);
  }

  /** Polyp area as a fraction of the image (ground truth). */
  public double groundTruthFraction() {
    return (double) (tp + fn) / pixels();
  }

  public long pixels() {
    return (long) width * height;
  }

  /**
   * Sort key for "worst first": Dice where defined; for an empty ground truth 1 if the prediction
   * is empty too, 0 otherwise (any false positive on a polyp-free image is a miss).
   */
  public double rankingScore() {
    if (groundTruthEmpty()) {
      return fp == 0 ? 1.0 : 0.0;
    }
    return dice();
  }
}
