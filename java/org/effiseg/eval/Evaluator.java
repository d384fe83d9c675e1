package org.effiseg.eval;

import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.PriorityQueue;

/**
 * Scores a stream of {@link EvaluationSample}s: metrics, error breakdown, and outcome overlays for
 * the worst {@code keepWorst} images (kept as they stream past, so memory stays bounded by {@code
 * keepWorst}, not by the split). Where the samples come from — mask files, a model — is the
 * caller's business. Not thread-safe.
 */
public final class Evaluator {
  /** Overlay images are kept at most this many pixels on the longer side. */
  public static final int OVERLAY_MAX_SIDE = 256;

  private final SegmentationMetrics metrics = new SegmentationMetrics();
  private final ErrorBreakdown breakdown;
  private final int keepWorst;
  // the best of the kept worst on top, so it is the one to drop
  private final PriorityQueue<EvaluationResult.WorstImage> worst =
      new PriorityQueue<>((a, b) -> EvaluationResult.WORST_FIRST.compare(b.metrics(), a.metrics()));

  public Evaluator(ErrorBreakdown.Config config, int keepWorst) {
    if (keepWorst < 0) {
      throw new IllegalArgumentException("keepWorst must be >= 0, got " + keepWorst);
    }
    this.breakdown = new ErrorBreakdown(config);
    this.keepWorst = keepWorst;
  }

  /** Scores every sample, in order, and returns the result. */
  public static EvaluationResult evaluate(
      Iterator<EvaluationSample> samples, ErrorBreakdown.Config config, int keepWorst) {
    Evaluator e = new Evaluator(config, keepWorst);
    while (samples.hasNext()) {
      e.add(samples.next());
    }
    return e.result();
  }

  /** Scores one sample; returns its metrics. */
  public ImageMetrics add(EvaluationSample s) {
    ImageMetrics m = metrics.add(s.prediction(), s.groundTruth(), s.id());
    breakdown.add(s.prediction(), s.groundTruth(), m);
    if (keepWorst > 0
        && (worst.size() < keepWorst
            || EvaluationResult.WORST_FIRST.compare(m, worst.peek().metrics()) < 0)) {
      BufferedImage overlay = Overlays.render(s.image(), s.prediction(), s.groundTruth());
      BufferedImage image =
          s.image() == null ? null : Overlays.thumbnail(s.image(), OVERLAY_MAX_SIDE);
      worst.add(
          new EvaluationResult.WorstImage(m, image, Overlays.thumbnail(overlay, OVERLAY_MAX_SIDE)));
      if (worst.size() > keepWorst) {
        worst.poll();
      }
    }
    return m;
  }

  public EvaluationResult result() {
    List<EvaluationResult.WorstImage> sorted = new ArrayList<>(worst);
    sorted.sort((a, b) -> EvaluationResult.WORST_FIRST.compare(a.metrics(), b.metrics()));
    return new EvaluationResult(metrics.summary(), metrics.images(), breakdown.result(), sorted);
  }
}
