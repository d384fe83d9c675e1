package org.effiseg.testing;

import static com.google.common.truth.Truth.assertWithMessage;

import java.util.function.Supplier;

/**
 * Finite-difference gradient checks for float32 kernels.
 *
 * <p>The scalar checked is L = sum(y * r) for a fixed random r, so dL/dy = r is what the
 * backward pass is fed. Central differences with step h on float32 have truncation error
 * O(h²·|f'''|) and rounding error about eps32·|L|/h; with inputs of order 1, h = 1e-2 and
 * L evaluated in double from float outputs, the error is ~1e-3 relative, so gradients are
 * compared with abs 2e-3 + rel 2e-2 unless a test justifies otherwise. Coordinates are
 * sampled (all of them for small tensors) to keep checks fast.
 */
public final class GradCheck {
  private GradCheck() {}

  /** Weighted sum of outputs in double: the scalar whose gradient is checked. */
  public static double dot(float[] y, float[] r) {
    double s = 0;
    for (int i = 0; i < y.length; i++) {
      s += (double) y[i] * r[i];
    }
    return s;
  }

  /**
   * Compares analytic gradient {@code analytic} of {@code loss} with respect to {@code input}
   * against central differences; {@code loss} recomputes the scalar from the current contents
   * of {@code input} (which this method perturbs in place and restores).
   */
  public static void check(
      String what,
      float[] input,
      float[] analytic,
      Supplier<Double> loss,
      double h,
      double abs,
      double rel,
      int maxCoordinates,
      long seed) {
    Rand rand = new Rand(seed);
    int n = input.length;
    int count = Math.min(n, maxCoordinates);
    for (int k = 0; k < count; k++) {
      int i = count == n ? k : rand.nextInt(n);
      float saved = input[i];
      input[i] = (float) (saved + h);
      double plus = loss.get();
      input[i] = (float) (saved - h);
      double minus = loss.get();
      input[i] = saved;
      double numeric = (plus - minus) / (2 * h);
      double err = Math.abs(analytic[i] - numeric);
      assertWithMessage(
              "%s: d/d[%s] analytic %s vs numeric %s (abs %s + rel %s)",
              what, i, analytic[i], numeric, abs, rel)
          .that(err <= abs + rel * Math.abs(numeric))
          .isTrue();
    }
  }
}
