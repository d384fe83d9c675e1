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
    float cut = (float) probability;
    boolean[] out = new boolean[probabilities.length];
    for (int i = 0; i < out.length; i++) {
      out[i] = probabilities[i] > cut;
    }
    return BinaryMask.of(width, height, out);
  }

  /** Binarises a row-major float32 logit map (cut-off rounded to float, as above). */
  public BinaryMask binarizeLogits(float[] logits, int width, int height) {
    float cut = (float) logit;
    boolean[] out = new boolean[logits.length];
    for (int i = 0; i < out.length; i++) {
      out[i] = logits[i] > cut;
    }
    return BinaryMask.of(width, height, out);
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
