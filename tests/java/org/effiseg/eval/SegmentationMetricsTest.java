package org.effiseg.eval;

import static com.google.common.truth.Truth.assertThat;

import org.junit.jupiter.api.Test;

/** Hand-computed cases for the MONAI conventions: per-image Dice/IoU, micro precision/recall. */
class SegmentationMetricsTest {
  private static final BinaryMask GT =
      Masks.parse(
          "....",
          ".##.",
          ".##.",
          "....");

  @Test
  void perfectPredictionScoresOne() {
    SegmentationMetrics m = new SegmentationMetrics();
    ImageMetrics img = m.add(GT, GT, "a");
    assertThat(img.tp()).isEqualTo(4);
    assertThat(img.tn()).isEqualTo(12);
    MetricSummary s = m.summary();
    assertThat(s.dice()).isEqualTo(1.0);
    assertThat(s.iou()).isEqualTo(1.0);
    assertThat(s.precision()).isEqualTo(1.0);
    assertThat(s.recall()).isEqualTo(1.0);
    assertThat(s.f1()).isEqualTo(1.0);
  }

  @Test
  void emptyPredictionScoresZeroAndPrecisionIsUndefined() {
    SegmentationMetrics m = new SegmentationMetrics();
    m.add(BinaryMask.empty(4, 4), GT, "a");
    MetricSummary s = m.summary();
    assertThat(s.dice()).isEqualTo(0.0);
    assertThat(s.iou()).isEqualTo(0.0);
    assertThat(s.recall()).isEqualTo(0.0);
    assertThat(s.precision()).isNaN(); // TP + FP = 0, as MONAI's ConfusionMatrixMetric
    assertThat(s.f1()).isEqualTo(0.0);
    assertThat(s.fn()).isEqualTo(4);
  }

  @Test
  void partialOverlap() {
    BinaryMask pred =
        Masks.parse(
            "....",
            "..##",
            "..##",
            "....");
    ImageMetrics img = new SegmentationMetrics().add(pred, GT, "a");
    // TP 2, FP 2, FN 2: Dice 2*2 / (4 + 4) = 0.5, IoU 2 / 6
    assertThat(img.tp()).isEqualTo(2);
    assertThat(img.fp()).isEqualTo(2);
    assertThat(img.fn()).isEqualTo(2);
    assertThat(img.tn()).isEqualTo(10);
    assertThat(img.dice()).isEqualTo(0.5);
    assertThat(img.iou()).isWithin(1e-12).of(1.0 / 3);
  }

  @Test
  void emptyGroundTruthIsLeftOutOfTheMeanButCountsInPrecision() {
    SegmentationMetrics m = new SegmentationMetrics();
    m.add(GT, GT, "perfect");
    ImageMetrics empty = m.add(Masks.rect(4, 4, 0, 0, 1, 1), BinaryMask.empty(4, 4), "noPolyp");
    assertThat(empty.dice()).isNaN();
    assertThat(empty.iou()).isNaN();
    MetricSummary s = m.summary();
    assertThat(s.images()).isEqualTo(2);
    assertThat(s.scoredImages()).isEqualTo(1);
    assertThat(s.dice()).isEqualTo(1.0);
    assertThat(s.iou()).isEqualTo(1.0);
    assertThat(s.precision()).isEqualTo(4.0 / 5); // the one FP pixel still counts
    assertThat(s.recall()).isEqualTo(1.0);
  }

  @Test
  void bothEmptyIsNaNAndLeftOut() {
    SegmentationMetrics m = new SegmentationMetrics();
    m.add(BinaryMask.empty(4, 4), BinaryMask.empty(4, 4), "x");
    MetricSummary s = m.summary();
    assertThat(s.scoredImages()).isEqualTo(0);
    assertThat(s.dice()).isNaN();
    assertThat(s.precision()).isNaN();
    assertThat(s.recall()).isNaN();
    assertThat(s.f1()).isNaN();
  }

  @Test
  void diceIsAveragedPerImageWhilePrecisionIsMicro() {
    SegmentationMetrics m = new SegmentationMetrics();
    // image 1: perfect on a 4-pixel polyp; image 2: 1-pixel polyp, 1 TP + 3 FP
    m.add(GT, GT, "a");
    BinaryMask smallGt = Masks.rect(4, 4, 0, 0, 1, 1);
    BinaryMask overshoot = Masks.rect(4, 4, 0, 0, 2, 2);
    m.add(overshoot, smallGt, "b");
    MetricSummary s = m.summary();
    double dice2 = 2.0 * 1 / (2 + 3); // 0.4
    double iou2 = 1.0 / 4;
    assertThat(s.dice()).isWithin(1e-12).of((1 + dice2) / 2);
    assertThat(s.iou()).isWithin(1e-12).of((1 + iou2) / 2);
    assertThat(s.precision()).isWithin(1e-12).of(5.0 / 8);
    assertThat(s.recall()).isEqualTo(1.0);
    assertThat(s.f1()).isWithin(1e-12).of(2 * (5.0 / 8) / (5.0 / 8 + 1));
  }

  @Test
  void resetStartsOver() {
    SegmentationMetrics m = new SegmentationMetrics();
    m.add(GT, GT, "a");
    m.reset();
    assertThat(m.images()).isEmpty();
    assertThat(m.summary().images()).isEqualTo(0);
  }

  @Test
  void sizeMismatchNamesTheImage() {
    IllegalArgumentException e =
        org.junit.jupiter.api.Assertions.assertThrows(
            IllegalArgumentException.class,
            () -> new SegmentationMetrics().add(BinaryMask.empty(3, 4), GT, "img7"));
    assertThat(e).hasMessageThat().contains("img7");
  }
}
