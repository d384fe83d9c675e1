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
    return MetricSummary.over(images);
  }

  public void reset() {
    images.clear();
  }
}
