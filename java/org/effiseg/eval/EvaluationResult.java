package org.effiseg.eval;

import java.awt.image.BufferedImage;
import java.util.Comparator;
import java.util.List;

/**
 * Everything one evaluation found: the split's scores, each image's metrics (in the order scored),
 * the error breakdown and the worst images with their outcome overlays.
 */
public record EvaluationResult(
    MetricSummary summary,
    List<ImageMetrics> images,
    ErrorBreakdown.Result breakdown,
    List<WorstImage> worst) {

  /** Worst first: lowest {@link ImageMetrics#rankingScore()}, then most errors, then id. */
  public static final Comparator<ImageMetrics> WORST_FIRST =
      Comparator.comparingDouble(ImageMetrics::rankingScore)
          .thenComparing(Comparator.comparingLong((ImageMetrics m) -> m.fp() + m.fn()).reversed())
          .thenComparing(ImageMetrics::id, MaskFiles::compareNatural);

  /** One of the worst images: its metrics, the input image (or null) and its outcome overlay. */
  public record WorstImage(ImageMetrics metrics, BufferedImage image, BufferedImage overlay) {}

  public EvaluationResult {
    images = List.copyOf(images);
    worst = List.copyOf(worst);
  }

  /** The per-image metrics sorted worst first. */
  public List<ImageMetrics> imagesWorstFirst() {
    return images.stream().sorted(WORST_FIRST).toList();
  }
}
