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

  /** The same pixels as a {@code TYPE_3BYTE_BGR} image (what {@link ImageDecoder#toRgb} reads back exactly). */
  public java.awt.image.BufferedImage toBufferedImage() {
    java.awt.image.BufferedImage image =
        new java.awt.image.BufferedImage(width, height, java.awt.image.BufferedImage.TYPE_3BYTE_BGR);
    byte[] bgr = ((java.awt.image.DataBufferByte) image.getRaster().getDataBuffer()).getData();
    for (int i = 0; i < rgb.length; i += 3) {
      bgr[i] = rgb[i + 2];
      bgr[i + 1] = rgb[i + 1];
      bgr[i + 2] = rgb[i];
    }
    return image;
  }
}
