package org.effiseg.eval;

import java.math.BigDecimal;
import java.util.Locale;

/**
 * Where a prediction becomes foreground. Held as a probability cut-off {@code p}: a pixel is polyp
 * when its probability is strictly greater than {@code p} (the reference code's {@code
 * sigmoid(logits) > 0.5}). The same cut-off applies to logits ({@code z > log(p / (1 - p))}, no
 * sigmoid needed) and to 8-bit grey maps ({@code grey / 255 > p}; at 0.5 that is {@code grey >
 * 127}, the dataset's mask rule).
 *
 * <p>The follow-up study's "threshold logit 0.5" is {@link #logit(double) logit(0.5)}: probability
 * {@code sigmoid(0.5) = 0.6225}.
 */
public final class Threshold {
  /** The reference code's threshold: probability 0.5 (logit 0). */
  public static final Threshold DEFAULT = probability(0.5);

  private final double probability;
  private final double logit;
  private final boolean givenAsLogit;

  private Threshold(double probability, double logit, boolean givenAsLogit) {
    this.probability = probability;
    this.logit = logit;
    this.givenAsLogit = givenAsLogit;
  }

  /** Foreground where probability {@code > p}; {@code p} in [0, 1]. */
  public static Threshold probability(double p) {
    if (!(p >= 0 && p <= 1)) {
      throw new IllegalArgumentException("probability threshold must be in [0, 1], got " + p);
    }
    return new Threshold(p, Math.log(p / (1 - p)), false);
  }

  /** Foreground where logit {@code > z}, i.e. probability {@code > sigmoid(z)}. */
  public static Threshold logit(double z) {
    if (Double.isNaN(z)) {
      throw new IllegalArgumentException("logit threshold must be a number");
    }
    return new Threshold(1 / (1 + Math.exp(-z)), z, true);
  }

  /** The probability cut-off. */
  public double probability() {
    return probability;
  }

  /** The same cut-off on the logit scale. */
  public double logit() {
    return logit;
  }

  public boolean isForegroundProbability(double p) {
    return p > probability;
  }

  public boolean isForegroundLogit(double z) {
    return z > logit;
  }

  /** For 8-bit grey levels (0..255) read as probability {@code grey / 255}. */
  public boolean isForegroundGrey(int grey) {
    return grey / 255.0 > probability;
  }

  /**
   * Binarises a row-major float32 probability map. The cut-off is rounded to float first, as
   * PyTorch does when it compares a float32 tensor with a Python scalar.
   */
  public BinaryMask binarizeProbabilities(float[] probabilities, int width, int height) {
    requireLength(probabilities.length, width, height);
    return binarizeProbabilities(probabilities, 0, width, height);
  }

  /**
   * Binarises the {@code width x height} probability map starting at {@code offset}, e.g. image
   * {@code i} of a batch of single-channel maps at {@code offset = i * width * height}.
   */
  public BinaryMask binarizeProbabilities(
      float[] probabilities, int offset, int width, int height) {
    return cut(probabilities, offset, width, height, (float) probability);
  }

  /** Binarises a row-major float32 logit map (cut-off rounded to float, as above). */
  public BinaryMask binarizeLogits(float[] logits, int width, int height) {
    requireLength(logits.length, width, height);
    return binarizeLogits(logits, 0, width, height);
  }

  /** Binarises the {@code width x height} logit map starting at {@code offset}. */
  public BinaryMask binarizeLogits(float[] logits, int offset, int width, int height) {
    return cut(logits, offset, width, height, (float) logit);
  }

  private static BinaryMask cut(float[] values, int offset, int width, int height, float cut) {
    int n = width * height;
    if (offset < 0 || offset + n > values.length) {
      throw new IllegalArgumentException(
          "a "
              + width
              + "x"
              + height
              + " map at offset "
              + offset
              + " does not fit in "
              + values.length
              + " values");
    }
    boolean[] out = new boolean[n];
    for (int i = 0; i < n; i++) {
      out[i] = values[offset + i] > cut;
    }
    return BinaryMask.of(width, height, out);
  }

  private static void requireLength(int length, int width, int height) {
    if (length != width * height) {
      throw new IllegalArgumentException(
          "a " + width + "x" + height + " map needs " + width * height + " values, got " + length);
    }
  }

  /** Binarises a row-major 8-bit grey map. */
  public BinaryMask binarizeGrey(int[] grey, int width, int height) {
    boolean[] out = new boolean[grey.length];
    for (int i = 0; i < out.length; i++) {
      out[i] = isForegroundGrey(grey[i]);
    }
    return BinaryMask.of(width, height, out);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Threshold t
        && t.probability == probability
        && t.givenAsLogit == givenAsLogit;
  }

  @Override
  public int hashCode() {
    return Double.hashCode(probability) * 31 + (givenAsLogit ? 1 : 0);
  }

  private static String plain(double v) {
    return BigDecimal.valueOf(v).stripTrailingZeros().toPlainString();
  }

  @Override
  public String toString() {
    return givenAsLogit
        ? String.format(Locale.ROOT, "logit > %s (probability > %.4f)", plain(logit), probability)
        : "probability > " + plain(probability);
  }
}
