// The Kvasir black rectangle: sets the top-left fraction x fraction of the image AND the mask to 0,
// so the model cannot learn from the scope's overlay box there. Runs right after the resize.
package org.effiseg.augment;

import java.util.Arrays;
import java.util.SplittableRandom;

/** Zeroes the top-left {@code floor(fraction * width) x floor(fraction * height)} pixels. */
record BlackRectangleStep(AugmentConfig.BlackRectangle config) implements Transform {

  @Override
  public void apply(Sample sample, SplittableRandom random) {
    int width = (int) (config.fraction() * sample.width());
    int height = (int) (config.fraction() * sample.height());
    for (int y = 0; y < height; y++) {
      int row = y * sample.width();
      Arrays.fill(sample.rgb(), row * 3, (row + width) * 3, (byte) 0);
      Arrays.fill(sample.mask(), row, row + width, (byte) 0);
    }
  }
}
