// Resizing to the model resolution: Lanczos-4 for images, nearest for masks, both bit-for-bit
// replicas of OpenCV's cv::resize (INTER_LANCZOS4 and INTER_NEAREST) on 8-bit data.
//
// Lanczos-4 follows resizeGeneric_ with HResizeLanczos4/VResizeLanczos4: source position
// (dx + 0.5) * scale - 0.5, weights from Lanczos4.weights rounded to 11-bit fixed point per output
// column/row (no table: resize uses exact offsets), horizontal pass into int rows, vertical pass,
// then (sum + 2^21) >> 22 saturated to 0..255. Out-of-range taps clamp to the edge (replicate).
// See docs/data-pipeline.md for the comparison with OpenCV.
package org.effiseg.data;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** Lanczos-4 image resize and nearest mask resize. Thread-safe (tap tables are cached). */
public final class Resize {
  private static final int COEF_BITS = 11;
  private static final int COEF_SCALE = 1 << COEF_BITS;

  private Resize() {}

  /** Resizes interleaved RGB {@code src} (sw x sh) into {@code dst} (dw x dh). */
  public static void lanczos4(byte[] src, int sw, int sh, byte[] dst, int dw, int dh) {
    if (sw == dw && sh == dh) {
      System.arraycopy(src, 0, dst, 0, sw * sh * 3); // cv::resize copies when sizes match
      return;
    }
    Taps columns = taps(sw, dw);
    Taps rows = taps(sh, dh);
    int rowLength = dw * 3;
    // Horizontal pass over every source row (the vertical taps reach all of them in practice).
    int[] horizontal = new int[sh * rowLength];
    for (int sy = 0; sy < sh; sy++) {
      horizontalRow(src, sy * sw * 3, horizontal, sy * rowLength, columns, dw);
    }
    int shift = COEF_BITS * 2;
    int half = 1 << (shift - 1);
    for (int dy = 0; dy < dh; dy++) {
      int t = dy * 8;
      int r0 = rows.index[t] * rowLength;
      int r1 = rows.index[t + 1] * rowLength;
      int r2 = rows.index[t + 2] * rowLength;
      int r3 = rows.index[t + 3] * rowLength;
      int r4 = rows.index[t + 4] * rowLength;
      int r5 = rows.index[t + 5] * rowLength;
      int r6 = rows.index[t + 6] * rowLength;
      int r7 = rows.index[t + 7] * rowLength;
      int w0 = rows.weight[t];
      int w1 = rows.weight[t + 1];
      int w2 = rows.weight[t + 2];
      int w3 = rows.weight[t + 3];
      int w4 = rows.weight[t + 4];
      int w5 = rows.weight[t + 5];
      int w6 = rows.weight[t + 6];
      int w7 = rows.weight[t + 7];
      int out = dy * rowLength;
      for (int x = 0; x < rowLength; x++) {
        int sum = horizontal[r0 + x] * w0 + horizontal[r1 + x] * w1 + horizontal[r2 + x] * w2
            + horizontal[r3 + x] * w3 + horizontal[r4 + x] * w4 + horizontal[r5 + x] * w5
            + horizontal[r6 + x] * w6 + horizontal[r7 + x] * w7;
        dst[out + x] = (byte) Math.max(0, Math.min(255, (sum + half) >> shift));
      }
    }
  }

  /** One source row through the horizontal taps; interior columns read 8 consecutive pixels. */
  private static void horizontalRow(byte[] src, int srcRow, int[] out, int outRow, Taps columns,
      int dw) {
    int[] index = columns.index;
    int[] weight = columns.weight;
    for (int dx = 0; dx < dw; dx++) {
      int t = dx * 8;
      int r = 0;
      int g = 0;
      int b = 0;
      if (dx >= columns.interiorStart && dx < columns.interiorEnd) {
        int p = srcRow + index[t] * 3;
        for (int k = 0; k < 8; k++, p += 3) {
          int w = weight[t + k];
          r += (src[p] & 0xFF) * w;
          g += (src[p + 1] & 0xFF) * w;
          b += (src[p + 2] & 0xFF) * w;
        }
      } else {
        for (int k = 0; k < 8; k++) {
          int p = srcRow + index[t + k] * 3;
          int w = weight[t + k];
          r += (src[p] & 0xFF) * w;
          g += (src[p + 1] & 0xFF) * w;
          b += (src[p + 2] & 0xFF) * w;
        }
      }
      int o = outRow + dx * 3;
      out[o] = r;
      out[o + 1] = g;
      out[o + 2] = b;
    }
  }

  /** Resizes a one-byte-per-pixel mask with OpenCV's INTER_NEAREST rule: floor(dx * sw / dw). */
  public static void nearest(byte[] src, int sw, int sh, byte[] dst, int dw, int dh) {
    int[] sourceColumn = nearestIndices(sw, dw);
    int[] sourceRow = nearestIndices(sh, dh);
    for (int dy = 0; dy < dh; dy++) {
      int srcRow = sourceRow[dy] * sw;
      int out = dy * dw;
      for (int dx = 0; dx < dw; dx++) {
        dst[out + dx] = src[srcRow + sourceColumn[dx]];
      }
    }
  }

  /** Resizes a whole image into a new one. */
  public static RgbImage lanczos4(RgbImage image, int width, int height) {
    byte[] out = new byte[width * height * 3];
    lanczos4(image.rgb(), image.width(), image.height(), out, width, height);
    return new RgbImage(width, height, out);
  }

  /** Resizes a whole mask into a new one. */
  public static Mask nearest(Mask mask, int width, int height) {
    byte[] out = new byte[width * height];
    nearest(mask.values(), mask.width(), mask.height(), out, width, height);
    return new Mask(width, height, out);
  }

  private static int[] nearestIndices(int sourceSize, int destSize) {
    double inverseScale = (double) destSize / sourceSize;
    double scale = 1. / inverseScale;
    int[] indices = new int[destSize];
    for (int d = 0; d < destSize; d++) {
      indices[d] = Math.min((int) Math.floor(d * scale), sourceSize - 1);
    }
    return indices;
  }

  /**
   * Source indices (edge-clamped) and fixed-point weights of the 8 taps of each output index;
   * outputs in [interiorStart, interiorEnd) have 8 unclamped, consecutive source indices.
   */
  private record Taps(int[] index, int[] weight, int interiorStart, int interiorEnd) {}

  /** Tap tables by (source size, destination size); a run only ever sees a few sizes. */
  private static final Map<Long, Taps> TAPS = new ConcurrentHashMap<>();

  private static Taps taps(int sourceSize, int destSize) {
    return TAPS.computeIfAbsent(((long) sourceSize << 32) | destSize,
        key -> buildTaps(sourceSize, destSize));
  }

  private static Taps buildTaps(int sourceSize, int destSize) {
    // OpenCV stores dst/src and inverts it; 1/(d/s) can differ from s/d in the last bit.
    double inverseScale = (double) destSize / sourceSize;
    double scale = 1. / inverseScale;
    int[] index = new int[destSize * 8];
    int[] weight = new int[destSize * 8];
    float[] coefficients = new float[8];
    int interiorStart = destSize;
    int interiorEnd = 0;
    for (int d = 0; d < destSize; d++) {
      float position = (float) ((d + 0.5) * scale - 0.5);
      int left = (int) Math.floor(position);
      Lanczos4.weights(position - left, coefficients);
      for (int k = 0; k < 8; k++) {
        index[d * 8 + k] = Math.min(Math.max(left - 3 + k, 0), sourceSize - 1);
        weight[d * 8 + k] = (int) Math.rint(coefficients[k] * COEF_SCALE);
      }
      if (left - 3 >= 0 && left + 4 < sourceSize) {
        interiorStart = Math.min(interiorStart, d);
        interiorEnd = d + 1;
      }
    }
    return new Taps(index, weight, interiorStart, interiorEnd);
  }
}
