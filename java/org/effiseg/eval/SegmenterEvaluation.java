package org.effiseg.eval;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.effiseg.api.Segmenter;
import org.effiseg.data.ImageDecoder;
import org.effiseg.data.Mask;
import org.effiseg.data.Resize;
import org.effiseg.data.RgbImage;
import org.effiseg.data.SamplePair;
import org.effiseg.data.SplitIndex;
import org.effiseg.util.ProgressBar;

/**
 * Scores a {@link Segmenter} on a dataset split the way the EffiSegNet reference code does: at
 * the model's resolution (images Lanczos-4, ground-truth masks nearest), Dice/IoU per image and
 * averaged, precision/recall/F1 from the split's pixel counts.
 */
public final class SegmenterEvaluation {
  private static final int BATCH = 8;

  private SegmenterEvaluation() {}

  /**
   * Scores at the segmenter's own threshold.
   *
   * @param keepWorst how many of the worst images to keep overlays of (for the HTML report)
   * @param progress where to report progress, or null
   */
  public static EvaluationResult evaluate(Segmenter segmenter, SplitIndex split, int keepWorst,
      java.io.PrintStream progress) throws IOException {
    return evaluate(segmenter, split, Threshold.probability(segmenter.threshold()), keepWorst, progress);
  }

  /** As above with an explicit threshold (on probabilities at the model's resolution). */
  public static EvaluationResult evaluate(Segmenter segmenter, SplitIndex split, Threshold threshold,
      int keepWorst, java.io.PrintStream progress) throws IOException {
    int size = segmenter.inputSize();
    Evaluator evaluator = new Evaluator(ErrorBreakdown.Config.DEFAULT, keepWorst);
    List<SamplePair> pairs = split.pairs();
    ProgressBar bar = progress == null ? null
        : new ProgressBar(progress, "evaluating " + split.split().folder(), pairs.size());
    for (int start = 0; start < pairs.size(); start += BATCH) {
      List<SamplePair> chunk = pairs.subList(start, Math.min(pairs.size(), start + BATCH));
      List<RgbImage> images = new ArrayList<>();
      for (SamplePair pair : chunk) {
        images.add(ImageDecoder.readRgb(pair.image()));
      }
      List<BufferedImage> decoded = new ArrayList<>(images.size());
      for (RgbImage rgb : images) {
        decoded.add(rgb.toBufferedImage());
      }
      float[][] probabilities = segmenter.probabilitiesAtModelSize(decoded);
      for (int i = 0; i < chunk.size(); i++) {
        SamplePair pair = chunk.get(i);
        Mask truth = Resize.nearest(ImageDecoder.readMask(pair.mask()), size, size);
        boolean[] gt = new boolean[size * size];
        for (int p = 0; p < gt.length; p++) {
          gt[p] = truth.values()[p] != 0;
        }
        BufferedImage shown = keepWorst > 0 ? toImage(Resize.lanczos4(images.get(i), size, size)) : null;
        evaluator.add(new EvaluationSample(pair.stem(),
            threshold.binarizeProbabilities(probabilities[i], size, size),
            BinaryMask.of(size, size, gt), shown));
      }
      if (bar != null) {
        bar.update(Math.min(pairs.size(), start + BATCH), "");
      }
    }
    return evaluator.result();
  }

  private static BufferedImage toImage(RgbImage rgb) {
    BufferedImage img = new BufferedImage(rgb.width(), rgb.height(), BufferedImage.TYPE_INT_RGB);
    byte[] b = rgb.rgb();
    for (int y = 0, i = 0; y < rgb.height(); y++) {
      for (int x = 0; x < rgb.width(); x++, i += 3) {
        img.setRGB(x, y, ((b[i] & 255) << 16) | ((b[i + 1] & 255) << 8) | (b[i + 2] & 255));
      }
    }
    return img;
  }
}
