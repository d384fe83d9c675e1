// The Lanczos-4 (8-tap) interpolation weights exactly as OpenCV computes them (interpolateLanczos4
// in imgproc/src/imgwarp.cpp, OpenCV 4.8): same angle-addition formula, same float/double mix,
// same normalisation. Resize and the warps in org.effiseg.augment build their tables from this.
package org.effiseg.data;

/** OpenCV's Lanczos-4 weights for a sub-pixel offset. */
public final class Lanczos4 {
  private static final double S45 = 0.70710678118654752440084436210485;
  // cos/sin of i*pi/4 * 3, so that sin(pi*t/4 + phase) needs one sin and one cos for all 8 taps.
  private static final double[][] CS = {
    {1, 0}, {-S45, -S45}, {0, 1}, {S45, -S45}, {-1, 0}, {S45, S45}, {0, -1}, {-S45, S45}
  };

  private Lanczos4() {}

  /**
   * Writes the 8 weights for taps at offsets -3..+4 around the pixel left of the sample point.
   *
   * @param x sub-pixel offset in [0, 1)
   */
  public static void weights(float x, float[] out) {
    float sum = 0;
    double y0 = -(x + 3) * Math.PI * 0.25;
    double s0 = StrictMath.sin(y0);
    double c0 = StrictMath.cos(y0);
    for (int i = 0; i < 8; i++) {
      float distance = x + 3 - i;
      if (Math.abs(distance) >= 1e-6f) {
        double y = -distance * Math.PI * 0.25;
        out[i] = (float) ((CS[i][0] * s0 + CS[i][1] * c0) / (y * y));
      } else {
        // The sample point sits on this tap: a huge weight normalises to exactly 1, the rest to 0.
        out[i] = 1e30f;
      }
      sum += out[i];
    }
    sum = 1.f / sum;
    for (int i = 0; i < 8; i++) {
      out[i] *= sum;
    }
  }
}
