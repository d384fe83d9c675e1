// albumentations Normalize(mean=ImageNet, std=ImageNet, max_pixel_value=255) in float32 as it
// computes it: (v - float32(mean) * 255) * (1 / (float32(std) * 255)), here via one 256-entry table
// per channel. Masks become 0.0 / 1.0.
package org.effiseg.augment;

import org.effiseg.model.ImageNetNormalization;

/** Writes a sample as normalised float32 NHWC (image) and 0/1 float32 (mask). */
final class NormalizeStep {
  private static final float[][] TABLE = buildTable();

  private NormalizeStep() {}

  static void write(Sample sample, float[] image, float[] mask) {
    byte[] rgb = sample.rgb();
    float[] red = TABLE[0];
    float[] green = TABLE[1];
    float[] blue = TABLE[2];
    for (int i = 0; i < rgb.length; i += 3) {
      image[i] = red[rgb[i] & 0xFF];
      image[i + 1] = green[rgb[i + 1] & 0xFF];
      image[i + 2] = blue[rgb[i + 2] & 0xFF];
    }
    byte[] values = sample.mask();
    for (int p = 0; p < values.length; p++) {
      mask[p] = values[p];
    }
  }

  /** The normalised value of 8-bit level {@code v} in channel {@code c}. */
  static float normalised(int c, int v) {
    return TABLE[c][v];
  }

  private static float[][] buildTable() {
    float[][] table = new float[3][256];
    for (int c = 0; c < 3; c++) {
      float mean = ImageNetNormalization.mean(c) * 255f;
      float reciprocal = 1f / (ImageNetNormalization.std(c) * 255f);
      for (int v = 0; v < 256; v++) {
        table[c][v] = (v - mean) * reciprocal;
      }
    }
    return table;
  }
}
