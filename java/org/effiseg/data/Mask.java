// A binary segmentation mask: one byte per pixel, 0 (background) or 1 (polyp), row-major.
package org.effiseg.data;

/** A binary mask; {@code values[y * width + x]} is 0 or 1. */
public record Mask(int width, int height, byte[] values) {
  public Mask {
    if (values.length != width * height) {
      throw new IllegalArgumentException(
          "mask holds " + values.length + " bytes, expected " + width + "x" + height);
    }
  }
}
