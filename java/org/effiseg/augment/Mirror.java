// In-place mirroring of row-major interleaved pixel buffers: what albumentations' HorizontalFlip and
// VerticalFlip (cv2.flip) do, shared by the training flips (FlipStep) and test-time augmentation.
package org.effiseg.augment;

/** Mirrors row-major pixel buffers in place, left-right ({@link #columns}) or top-bottom ({@link #rows}). */
public final class Mirror {
  private Mirror() {}

  /**
   * Mirrors every row left-right: pixel (x, y) and (width - 1 - x, y) swap.
   *
   * @param pixels row-major, {@code channels} interleaved bytes per pixel
   * @param width pixels per row
   * @param height rows
   * @param channels bytes per pixel (3 for RGB, 1 for a mask)
   */
  public static void columns(byte[] pixels, int width, int height, int channels) {
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

  /**
   * Mirrors the rows top-bottom: row y and row height - 1 - y swap.
   *
   * @param pixels row-major rows of {@code rowLength} bytes
   * @param rowLength bytes per row (width × channels)
   * @param height rows
   */
  public static void rows(byte[] pixels, int rowLength, int height) {
    byte[] row = new byte[rowLength];
    for (int top = 0, bottom = height - 1; top < bottom; top++, bottom--) {
      System.arraycopy(pixels, top * rowLength, row, 0, rowLength);
      System.arraycopy(pixels, bottom * rowLength, pixels, top * rowLength, rowLength);
      System.arraycopy(row, 0, pixels, bottom * rowLength, rowLength);
    }
  }
}
