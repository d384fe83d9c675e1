package org.effiseg.testing;

import static com.google.common.truth.Truth.assertWithMessage;

/**
 * Element-wise comparison with llm.c's tolerance form: |a - b| <= abs + rel * |b|, reporting
 * the worst element.
 */
public final class Tolerance {
  private Tolerance() {}

  public static void assertClose(String what, float[] actual, float[] expected, double abs, double rel) {
    double[] e = new double[expected.length];
    for (int i = 0; i < e.length; i++) {
      e[i] = expected[i];
    }
    assertClose(what, actual, e, abs, rel);
  }

  public static void assertClose(String what, float[] actual, double[] expected, double abs, double rel) {
    assertWithMessage(what + ": length").that(actual.length).isEqualTo(expected.length);
    int worst = -1;
    double worstExcess = 0;
    for (int i = 0; i < actual.length; i++) {
      double err = Math.abs(actual[i] - expected[i]);
      double allowed = abs + rel * Math.abs(expected[i]);
      if (!(err <= allowed) && (worst < 0 || err - allowed > worstExcess)) {
        worst = i;
        worstExcess = err - allowed;
      }
    }
    if (worst >= 0) {
      assertWithMessage(
              "%s: element %s is %s, expected %s (abs %s + rel %s)",
              what, worst, actual[worst], expected[worst], abs, rel)
          .fail();
    }
  }
}
