package org.effiseg.eval;

import java.awt.image.BufferedImage;

/**
 * One image to score: its id, the binarised prediction, the ground truth and, optionally, the input
 * image (for overlays; {@code null} when not at hand). Whatever produces predictions (mask files, a
 * checkpoint) hands the {@link Evaluator} an iterator of these.
 */
public record EvaluationSample(
    String id, BinaryMask prediction, BinaryMask groundTruth, BufferedImage image) {
  public EvaluationSample {
    if (!prediction.sameSize(groundTruth)) {
      throw new EvaluationInputException(
          id
              + ": prediction is "
              + prediction.width()
              + "x"
              + prediction.height()
              + " but the ground truth is "
              + groundTruth.width()
              + "x"
              + groundTruth.height());
    }
  }
}
