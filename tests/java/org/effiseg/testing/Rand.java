package org.effiseg.testing;

import java.util.SplittableRandom;

/** Seeded random test data. */
public final class Rand {
  private final SplittableRandom random;

  public Rand(long seed) {
    random = new SplittableRandom(seed);
  }

  /** n floats uniform in [lo, hi). */
  public float[] uniform(int n, double lo, double hi) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = (float) (lo + (hi - lo) * random.nextDouble());
    }
    return a;
  }

  /** n floats ~ N(0, sigma²). */
  public float[] normal(int n, double sigma) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      // Box-Muller: no dependence on Random's internal gaussian cache.
      double u = 1.0 - random.nextDouble();
      double v = random.nextDouble();
      a[i] = (float) (sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v));
    }
    return a;
  }

  /** n values, each 0 or 1 with probability 1/2. */
  public float[] binary(int n) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = random.nextBoolean() ? 1f : 0f;
    }
    return a;
  }

  public int nextInt(int bound) {
    return random.nextInt(bound);
  }

  public static int size(long... shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    return Math.toIntExact(n);
  }
}
