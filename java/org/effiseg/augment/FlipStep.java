// albumentations HorizontalFlip / VerticalFlip (cv2.flip): mirror columns or rows of image and mask.
package org.effiseg.augment;

import java.util.SplittableRandom;

/** Mirrors image and mask left-right ({@code horizontal}) or top-bottom. */
record FlipStep(boolean horizontal) implements Transform {

  @Override
  public void apply(Sample sample, SplittableRandom random) {
    if (horizontal) {
      mirrorColumns(sample.rgb(), sample.width(), sample.height(), 3);
      mirrorColumns(sample.mask(), sample.width(), sample.height(), 1);
    } else {
      mirrorRows(sample.rgb(), sample.width() * 3, sample.height());
      mirrorRows(sample.mask(), sample.width(), sample.height());
    }
  }

  private static void mirrorColumns(byte[] pixels, int width, int height, int channels) {
    for (int y = 0; y < height; y++) {
      int left = y * width * channels;
      int right = left + (width - 1) * channels;
      for (; left < right; left += channels, right -= channels) {
        for (int c = 0; c < channels; c++) {
          byte swap = pixels[left + c];
          pixels[left + c] = pixels[right + c];
          pixels[right + c] = swap;
        }
      }
    }
  }

  private static void mirrorRows(byte[] pixels, int rowLength, int height) {
    byte[] row = new byte[rowLength];
    for (int top = 0, bottom = height - 1; top < bottom; top++, bottom--) {
      System.arraycopy(pixels, top * rowLength, row, 0, rowLength);
      System.arraycopy(pixels, bottom * rowLength, pixels, top * rowLength, rowLength);
      System.arraycopy(row, 0, pixels, bottom * rowLength, rowLength);
    }
  }
}
