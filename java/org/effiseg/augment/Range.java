// A closed interval a parameter is drawn from uniformly; min == max makes it a constant, which is
// what albumentations' Affine does with a scalar argument (see docs/data-pipeline.md).
package org.effiseg.augment;

import java.util.SplittableRandom;

/** A uniform range [min, max]. */
public record Range(double min, double max) {
  public Range {
    if (!(min <= max)) {
      throw new IllegalArgumentException("range min " + min + " is above max " + max);
    }
  }

  /** The range albumentations builds from a scalar {@code v} with an offset: [base-v, base+v]. */
  public static Range around(double base, double spread) {
    return new Range(base - spread, base + spread);
  }

  public static Range constant(double value) {
    return new Range(value, value);
  }

  /** Like Python's random.uniform(min, max). */
  public double draw(SplittableRandom random) {
    return min + (max - min) * random.nextDouble();
  }
}
