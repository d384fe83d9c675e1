package org.effiseg.testing;

import java.util.SplittableRandom;
import org.effiseg.model.StateDict;
import org.effiseg.model.TensorData;

/** Random model weights for parity tests, and a scale-aware comparison of whole-network values. */
public final class ModelWeights {
  private ModelWeights() {}

  /**
   * Weights that make every path matter: convs ~ N(0, 1/fan_in) (so eval-mode activations stay
   * O(1) through the trunk), BN affine and running statistics and all biases random.
   */
  public static StateDict randomize(StateDict sd, long seed) {
    return randomize(sd, seed, true);
  }

  /**
   * As {@link #randomize}, with conv weights uniform of the same variance, U(±sqrt(3 / fan_in)):
   * several times cheaper, for the big variants' tens of millions of weights.
   */
  public static StateDict randomizeUniform(StateDict sd, long seed) {
    return randomize(sd, seed, false);
  }

  private static StateDict randomize(StateDict sd, long seed, boolean gaussian) {
    SplittableRandom r = new SplittableRandom(seed);
    StateDict out = new StateDict();
    for (String name : sd.names()) {
      TensorData t = sd.get(name);
      float[] v = new float[t.data().length];
      long[] s = t.shape();
      boolean bn = sd.contains(name.substring(0, name.lastIndexOf('.')) + ".running_mean");
      for (int i = 0; i < v.length; i++) {
        double u = r.nextDouble();
        if (name.endsWith("running_var") || (bn && name.endsWith(".weight"))) {
          v[i] = (float) (0.5 + u);
        } else if (name.endsWith("running_mean") || name.endsWith(".bias")) {
          v[i] = (float) (0.4 * u - 0.2);
        } else {
          long fanIn = 1;
          for (int d = 1; d < s.length; d++) {
            fanIn *= s[d];
          }
          double g = gaussian
              ? Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * r.nextDouble())
              : (2 * u - 1) * Math.sqrt(3);
          v[i] = (float) (g / Math.sqrt(fanIn));
        }
      }
      out.put(name, new TensorData(s, v));
    }
    return out;
  }

  /** Worst |a - e| within tol * max|e| (a scale-aware check for whole-network values). */
  public static void assertNear(String what, float[] actual, float[] expected, double tol) {
    assertNear(what, actual, expected, tol, 0);
  }

  /** As {@link #assertNear(String, float[], float[], double)}, the absolute part at least {@code absFloor}. */
  public static void assertNear(String what, float[] actual, float[] expected, double tol, double absFloor) {
    double scale = 0;
    for (float e : expected) {
      scale = Math.max(scale, Math.abs(e));
    }
    Tolerance.assertClose(what, actual, expected, Math.max(tol * scale, absFloor) + 1e-7, tol);
  }
}
