/**
 * Scoring segmentation masks, independent of the native core.
 *
 * <ul>
 *   <li>{@link org.effiseg.eval.Threshold} turns probabilities, logits or grey levels into a
 *       {@link org.effiseg.eval.BinaryMask}.
 *   <li>{@link org.effiseg.eval.SegmentationMetrics} accumulates per-image {@link
 *       org.effiseg.eval.ImageMetrics} and summarises a split as a {@link
 *       org.effiseg.eval.MetricSummary}, with the EffiSegNet reference code's MONAI conventions
 *       (per-image Dice/IoU averaged, micro precision/recall/F1).
 *   <li>{@link org.effiseg.eval.ErrorBreakdown} locates the errors: by polyp size, near the
 *       boundary, in the left-hand corners.
 *   <li>{@link org.effiseg.eval.Evaluator} runs both over an iterator of {@link
 *       org.effiseg.eval.EvaluationSample}s (from {@link org.effiseg.eval.PredictionDirectory} or a
 *       model) and keeps overlays of the worst images; {@link org.effiseg.eval.EvaluationReport}
 *       renders the result, with {@link org.effiseg.eval.TrainingLog} curves, as one HTML file.
 * </ul>
 *
 * <p>Conventions and the report are described in docs/evaluation.md.
 */
package org.effiseg.eval;
