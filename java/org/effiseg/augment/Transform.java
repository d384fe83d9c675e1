// One augmentation step. A step draws its parameters from the random it is given; geometric ones
// move the mask with the image, colour ones leave the mask alone. Whether a step fires is decided
// once, outside it (withProbability: the first draw, like albumentations' `random.random() < p`).
package org.effiseg.augment;

import java.util.SplittableRandom;

/** An augmentation applied in place to a {@link Sample}. */
public interface Transform {
  void apply(Sample sample, SplittableRandom random);

  /**
   * {@code transform} with probability {@code p}: the first draw of {@code random} decides, and
   * the transform draws its parameters after it.
   */
  static Transform withProbability(double p, Transform transform) {
    return (sample, random) -> {
      if (random.nextDouble() < p) {
        transform.apply(sample, random);
      }
    };
  }
}
