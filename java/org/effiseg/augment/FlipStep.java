// albumentations HorizontalFlip / VerticalFlip (cv2.flip): mirror columns or rows of image and mask.
package org.effiseg.augment;

import java.util.SplittableRandom;

/** Mirrors image and mask left-right ({@code horizontal}) or top-bottom. */
record FlipStep(boolean horizontal) implements Transform {

  @Override
  public void apply(Sample sample, SplittableRandom random) {
    if (horizontal) {
      Mirror.columns(sample.rgb(), sample.width(), sample.height(), 3);
      Mirror.columns(sample.mask(), sample.width(), sample.height(), 1);
    } else {
      Mirror.rows(sample.rgb(), sample.width() * 3, sample.height());
      Mirror.rows(sample.mask(), sample.width(), sample.height());
    }
  }
}
