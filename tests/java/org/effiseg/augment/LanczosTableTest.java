// The Lanczos-4 weights: the textbook kernel sinc(t) sinc(t/4), normalised, and the 2-D table's
// properties the warp kernels rely on (exact sums, a pure centre tap at offset 0).
package org.effiseg.augment;

import static com.google.common.truth.Truth.assertThat;

import org.effiseg.data.Lanczos4;
import org.junit.jupiter.api.Test;

class LanczosTableTest {
  private static double sinc(double t) {
    return t == 0 ? 1 : Math.sin(Math.PI * t) / (Math.PI * t);
  }

  @Test
  void weightsAreTheNormalisedLanczos4Kernel() {
    float[] weights = new float[8];
    for (float x : new float[] {0.03125f, 0.25f, 0.5f, 0.8f}) {
      Lanczos4.weights(x, weights);
      double[] kernel = new double[8];
      double sum = 0;
      for (int i = 0; i < 8; i++) {
        double t = x + 3 - i; // distance from the sample point to tap i (offsets -3..+4)
        kernel[i] = sinc(t) * sinc(t / 4);
        sum += kernel[i];
      }
      for (int i = 0; i < 8; i++) {
        assertThat((double) weights[i]).isWithin(1e-6).of(kernel[i] / sum);
      }
    }
  }

  @Test
  void zeroOffsetIsAUnitImpulseOnTheCentreTap() {
    float[] weights = new float[8];
    Lanczos4.weights(0f, weights);
    assertThat(weights).usingExactEquality().containsExactly(0f, 0f, 0f, 1f, 0f, 0f, 0f, 0f)
        .inOrder();
    for (int k = 0; k < 64; k++) {
      assertThat(LanczosTable.WEIGHTS[k]).isEqualTo(k == 3 * 8 + 3 ? LanczosTable.COEF_SCALE : 0);
    }
  }

  @Test
  void everyTablePositionSumsToExactlyOne() {
    for (int position = 0; position < 32 * 32; position++) {
      int sum = 0;
      for (int k = 0; k < 64; k++) {
        sum += LanczosTable.WEIGHTS[position * 64 + k];
      }
      assertThat(sum).isEqualTo(LanczosTable.COEF_SCALE);
    }
  }
}
