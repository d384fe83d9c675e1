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
  void zeroOffsetReproducesTheCentrePixelExactly() {
    float[] weights = new float[8];
    Lanczos4.weights(0f, weights);
    // OpenCV's 1e30 trick leaves ~1e-31 on the other taps: nothing once in fixed point.
    for (int i = 0; i < 8; i++) {
      assertThat((double) weights[i]).isWithin(1e-20).of(i == 3 ? 1 : 0);
    }
    // 32768 saturates to 32767 as a short; OpenCV's nudge puts the missing 1 on tap (4, 4).
    for (int k = 0; k < 64; k++) {
      int expected = k == 3 * 8 + 3 ? 32767 : k == 4 * 8 + 4 ? 1 : 0;
      assertThat(LanczosTable.WEIGHTS[k]).isEqualTo(expected);
    }
    // So the warp's shortcut for offset 0 (copy the centre pixel) is exact for any neighbour.
    for (int centre = 0; centre < 256; centre++) {
      for (int neighbour = 0; neighbour < 256; neighbour++) {
        assertThat((centre * 32767 + neighbour + (1 << 14)) >> 15).isEqualTo(centre);
      }
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
