// One augmentation step. Each transform decides itself whether it fires (probability p, drawn
// first, like albumentations' `random.random() < p`) and draws its parameters from the random it
// is given; geometric ones move the mask with the image, colour ones leave the mask alone.
package org.effiseg.augment;

import java.util.SplittableRandom;

/** An augmentation applied in place to a {@link Sample}. */
public interface Transform {
  void apply(Sample sample, SplittableRandom random);
}
