// A decoded 8-bit RGB image: interleaved R,G,B bytes, row-major, no padding.
package org.effiseg.data;

/** An 8-bit RGB image; {@code rgb[(y * width + x) * 3 + c]}. */
public record RgbImage(int width, int height, byte[] rgb) {
  public RgbImage {
    if (rgb.length != width * height * 3) {
      throw new IllegalArgumentException(
          "rgb holds " + rgb.length + " bytes, expected " + width + "x" + height + "x3");
    }
  }
}
