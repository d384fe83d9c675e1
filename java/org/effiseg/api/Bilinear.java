package org.effiseg.api;

/** Bilinear resampling of a single-channel float map with pixel-centre alignment (OpenCV INTER_LINEAR). */
final class Bilinear {
  private Bilinear() {}

  static float[] resize(float[] src, int sw, int sh, int dw, int dh) {
    if (sw == dw && sh == dh) {
      return src.clone();
    }
    float[] dst = new float[dw * dh];
    double sx = (double) sw / dw;
    double sy = (double) sh / dh;
    for (int y = 0; y < dh; y++) {
      double fy = Math.max((y + 0.5) * sy - 0.5, 0);
      int y0 = Math.min((int) fy, sh - 1);
      int y1 = Math.min(y0 + 1, sh - 1);
      double wy = Math.min(fy - y0, 1);
      for (int x = 0; x < dw; x++) {
        double fx = Math.max((x + 0.5) * sx - 0.5, 0);
        int x0 = Math.min((int) fx, sw - 1);
        int x1 = Math.min(x0 + 1, sw - 1);
        double wx = Math.min(fx - x0, 1);
        double top = src[y0 * sw + x0] * (1 - wx) + src[y0 * sw + x1] * wx;
        double bottom = src[y1 * sw + x0] * (1 - wx) + src[y1 * sw + x1] * wx;
        dst[y * dw + x] = (float) (top * (1 - wy) + bottom * wy);
      }
    }
    return dst;
  }
}
