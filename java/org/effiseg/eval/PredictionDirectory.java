package org.effiseg.eval;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;

/**
 * Samples from mask files made by anything: every ground-truth mask in {@code SPLIT/masks} paired
 * with the prediction of the same stem in a prediction folder (any common image format), and the
 * input image from {@code SPLIT/images} when asked for. Ground truth is binarised with {@code grey
 * > 127} (the dataset's rule), predictions with the given {@link Threshold}.
 *
 * <p>{@link #open} checks up front that the folders exist, that there is ground truth, and that
 * every ground-truth mask has its prediction; sizes are checked as files are read.
 */
public final class PredictionDirectory implements Iterable<EvaluationSample> {
  private final Map<String, Path> groundTruth;
  private final Map<String, Path> predictions;
  private final Map<String, Path> images;
  private final Threshold threshold;
  private final boolean resizeNearest;

  private PredictionDirectory(
      Map<String, Path> groundTruth,
      Map<String, Path> predictions,
      Map<String, Path> images,
      Threshold threshold,
      boolean resizeNearest) {
    this.groundTruth = groundTruth;
    this.predictions = predictions;
    this.images = images;
    this.threshold = threshold;
    this.resizeNearest = resizeNearest;
  }

  /**
   * Pairs {@code predictionDir} with {@code splitDir/masks}.
   *
   * @param resizeNearest resize a prediction of another size to its ground truth's size (nearest
   *     neighbour) instead of failing
   * @param withImages also read {@code splitDir/images} (for overlays); a missing image is {@code
   *     null}
   */
  public static PredictionDirectory open(
      Path predictionDir,
      Path splitDir,
      Threshold threshold,
      boolean resizeNearest,
      boolean withImages) {
    Path masks = splitDir.resolve("masks");
    if (!Files.isDirectory(masks)) {
      throw new EvaluationInputException("no ground-truth folder " + masks);
    }
    Map<String, Path> gt = MaskFiles.byStem(masks);
    if (gt.isEmpty()) {
      throw new EvaluationInputException("no ground-truth masks in " + masks);
    }
    if (!Files.isDirectory(predictionDir)) {
      throw new EvaluationInputException("no prediction folder " + predictionDir);
    }
    Map<String, Path> pred = MaskFiles.byStem(predictionDir);
    if (pred.isEmpty()) {
      throw new EvaluationInputException("no prediction masks in " + predictionDir);
    }
    List<String> missing = new ArrayList<>();
    for (Map.Entry<String, Path> e : gt.entrySet()) {
      if (!pred.containsKey(e.getKey())) {
        missing.add(e.getKey());
      }
    }
    if (!missing.isEmpty()) {
      String first = missing.get(0);
      throw new EvaluationInputException(
          "missing prediction for "
              + gt.get(first)
              + ": no file with stem '"
              + first
              + "' in "
              + predictionDir
              + (missing.size() > 1
                  ? " ("
                      + missing.size()
                      + " of "
                      + gt.size()
                      + " missing: "
                      + preview(missing)
                      + ")"
                  : ""));
    }
    Path imageDir = splitDir.resolve("images");
    Map<String, Path> imgs =
        withImages && Files.isDirectory(imageDir) ? MaskFiles.byStem(imageDir) : Map.of();
    return new PredictionDirectory(gt, pred, imgs, threshold, resizeNearest);
  }

  private static String preview(List<String> ids) {
    return ids.size() <= 5
        ? String.join(", ", ids)
        : String.join(", ", ids.subList(0, 5)) + ", ...";
  }

  /** Number of images (ground-truth masks). */
  public int size() {
    return groundTruth.size();
  }

  /** Prediction files with no ground truth (not scored). */
  public List<Path> unmatchedPredictions() {
    List<Path> out = new ArrayList<>();
    predictions.forEach(
        (stem, p) -> {
          if (!groundTruth.containsKey(stem)) {
            out.add(p);
          }
        });
    return out;
  }

  @Override
  public Iterator<EvaluationSample> iterator() {
    Iterator<Map.Entry<String, Path>> gt = groundTruth.entrySet().iterator();
    return new Iterator<>() {
      @Override
      public boolean hasNext() {
        return gt.hasNext();
      }

      @Override
      public EvaluationSample next() {
        if (!gt.hasNext()) {
          throw new NoSuchElementException();
        }
        Map.Entry<String, Path> e = gt.next();
        return load(e.getKey(), e.getValue());
      }
    };
  }

  private EvaluationSample load(String id, Path gtFile) {
    BinaryMask truth = MaskFiles.readMask(gtFile, Threshold.DEFAULT);
    Path predFile = predictions.get(id);
    BinaryMask pred = MaskFiles.readMask(predFile, threshold);
    if (!pred.sameSize(truth)) {
      if (!resizeNearest) {
        throw new EvaluationInputException(
            "size mismatch: prediction "
                + predFile
                + " is "
                + pred.width()
                + "x"
                + pred.height()
                + " but ground truth "
                + gtFile
                + " is "
                + truth.width()
                + "x"
                + truth.height()
                + " (enable nearest-neighbour resizing to score it anyway)");
      }
      pred = pred.resizeNearest(truth.width(), truth.height());
    }
    Path imageFile = images.get(id);
    BufferedImage image = imageFile == null ? null : MaskFiles.readImage(imageFile);
    return new EvaluationSample(id, pred, truth, image);
  }
}
