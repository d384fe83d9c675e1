package org.effiseg.eval;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Accumulates per-image results over a split, with the EffiSegNet reference code's conventions
 * (MONAI {@code DiceMetric}, {@code MeanIoU}, {@code ConfusionMatrixMetric}; see
 * docs/evaluation.md). Call {@link #add} once per image, then {@link #summary()}; {@link #reset()}
 * starts the next epoch. Not thread-safe.
 */
public final class SegmentationMetrics {
  private final List<ImageMetrics> images = new ArrayList<>();

  /** Scores one image and records it; returns its metrics. */
  public ImageMetrics add(BinaryMask prediction, BinaryMask groundTruth, String id) {
    ImageMetrics m = ImageMetrics.of(id, prediction, groundTruth);
    images.add(m);
    return m;
  }

  /** The per-image records, in the order added. */
  public List<ImageMetrics> images() {
    return Collections.unmodifiableList(images);
  }

  public MetricSummary summary() {
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
    return MetricSummary.of(
        images.size(),
        scored,
        tp,
        fp,
        fn,
        tn,
        scored == 0 ? Double.NaN : diceSum / scored,
        scored == 0 ? Double.NaN : iouSum / scored);
  }

  public void reset() {
    images.clear();
  }
}
