// albumentations 1.3.1 ColorJitter: draws brightness, contrast, saturation and hue factors, then
// applies the four adjustments in a random order (random.shuffle of [0, 1, 2, 3]). Image only.
package org.effiseg.augment;

import java.util.SplittableRandom;

/** Colour jitter with a random order of its four adjustments. */
record ColorJitterStep(AugmentConfig.ColorJitter config) implements Transform {

  @Override
  public void apply(Sample sample, SplittableRandom random) {
    double brightness = config.brightness().draw(random);
    double contrast = config.contrast().draw(random);
    double saturation = config.saturation().draw(random);
    double hue = config.hue().draw(random);
    int[] order = {0, 1, 2, 3};
    for (int i = order.length - 1; i > 0; i--) {
      int j = random.nextInt(i + 1);
      int swap = order[i];
      order[i] = order[j];
      order[j] = swap;
    }
    byte[] rgb = sample.rgb();
    for (int step : order) {
      switch (step) {
        case 0 -> ColorOps.brightness(rgb, brightness);
        case 1 -> ColorOps.contrast(rgb, contrast);
        case 2 -> ColorOps.saturation(rgb, saturation);
        default -> ColorOps.hue(rgb, hue);
      }
    }
  }
}
