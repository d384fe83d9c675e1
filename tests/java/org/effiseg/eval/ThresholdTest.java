package org.effiseg.eval;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class ThresholdTest {
  @Test
  void defaultIsStrictlyAboveHalf() {
    Threshold t = Threshold.DEFAULT;
    assertThat(t.isForegroundProbability(0.5)).isFalse();
    assertThat(t.isForegroundProbability(0.5000001)).isTrue();
    assertThat(t.logit()).isEqualTo(0.0);
    assertThat(t.isForegroundLogit(0.0)).isFalse();
    assertThat(t.isForegroundLogit(1e-6)).isTrue();
  }

  @Test
  void greyHalfMatchesTheDatasetRuleAbove127() {
    Threshold t = Threshold.DEFAULT;
    assertThat(t.isForegroundGrey(127)).isFalse();
    assertThat(t.isForegroundGrey(128)).isTrue();
  }

  @Test
  void logitHalfIsSigmoidOfHalf() {
    Threshold t = Threshold.logit(0.5);
    assertThat(t.probability()).isWithin(1e-12).of(1 / (1 + Math.exp(-0.5)));
    assertThat(t.probability()).isWithin(1e-4).of(0.6225);
    assertThat(t.isForegroundLogit(0.5)).isFalse();
    assertThat(t.isForegroundLogit(0.51)).isTrue();
    assertThat(t.isForegroundProbability(0.6)).isFalse();
    assertThat(t.isForegroundGrey(158)).isFalse(); // 158/255 = 0.6196
    assertThat(t.isForegroundGrey(159)).isTrue(); // 0.6235
    assertThat(t.toString()).contains("logit > 0.5");
  }

  @Test
  void binarizesMaps() {
    BinaryMask m =
        Threshold.probability(0.3).binarizeProbabilities(new float[] {0.1f, 0.3f, 0.31f, 1f}, 2, 2);
    assertThat(m).isEqualTo(Masks.parse("..", "##"));
    BinaryMask l = Threshold.DEFAULT.binarizeLogits(new float[] {-2f, 0f, 0.1f, 5f}, 4, 1);
    assertThat(l).isEqualTo(Masks.parse("..##"));
  }

  @Test
  void binarizesOneImageOfABatch() {
    float[] batch = {9f, 9f, 9f, 9f, -1f, 2f, 0.4f, 0.6f};
    assertThat(Threshold.logit(0.5).binarizeLogits(batch, 4, 2, 2))
        .isEqualTo(Masks.parse(".#", ".#"));
    assertThat(BinaryMask.fromTargets(new float[] {0, 0, 1, 0, 1}, 1, 2, 2))
        .isEqualTo(Masks.parse(".#", ".#"));
    assertThrows(
        IllegalArgumentException.class, () -> Threshold.DEFAULT.binarizeLogits(batch, 6, 2, 2));
    assertThrows(
        IllegalArgumentException.class, () -> Threshold.DEFAULT.binarizeLogits(batch, 2, 2));
  }

  @Test
  void rejectsOutOfRange() {
    assertThrows(IllegalArgumentException.class, () -> Threshold.probability(1.5));
    assertThrows(IllegalArgumentException.class, () -> Threshold.probability(Double.NaN));
    assertThrows(IllegalArgumentException.class, () -> Threshold.logit(Double.NaN));
  }
}
