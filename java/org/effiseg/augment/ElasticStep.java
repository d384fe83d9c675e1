// albumentations 1.3.1 ElasticTransform (approximate=False, same_dxdy=False), defaults alpha=1,
// sigma=50, alpha_affine=50, border BORDER_REFLECT_101; the reference passes INTER_LANCZOS4 for
// the image, masks always use nearest. Two stages, both applied to image and mask alike:
//   1. a random affine: three points around the centre are each moved by U(-alpha_affine,
//      +alpha_affine) pixels (at any resolution) and the image is warped accordingly;
//   2. a displacement field: uniform noise in [-1, 1) smoothed with a Gaussian of std sigma, times
//      alpha, added to the pixel grid and resampled with cv2.remap.
// With the defaults the field's std is ~0.003 px, which OpenCV's 1/32-pixel map quantisation turns
// into the identity for practically every pixel: stage 1 is the visible part of the transform.
// The Gaussian is computed as three box filters with the same variance (Kovesi's "boxes for
// Gauss") instead of scipy's 401-tap kernel; see docs/data-pipeline.md.
package org.effiseg.augment;

import java.util.SplittableRandom;

/** Elastic deformation: random affine, then a smooth random displacement field. */
record ElasticStep(AugmentConfig.Elastic config) implements Transform {

  @Override
  public void apply(Sample sample, SplittableRandom random) {
    int w = sample.width();
    int h = sample.height();
    double[] inverse = Warp.invert(randomAffine(w, h, random));
    Warp.affineLanczos(sample.rgb(), sample.spareRgb(), w, h, inverse, Warp.Border.REFLECT_101);
    sample.swapRgb();
    Warp.affineNearest(sample.mask(), sample.spareMask(), w, h, inverse, Warp.Border.REFLECT_101);
    sample.swapMask();

    float[] mapX = displacement(w, h, random);
    float[] mapY = displacement(w, h, random);
    for (int y = 0, p = 0; y < h; y++) {
      for (int x = 0; x < w; x++, p++) {
        // numpy: int64 grid + float32 displacement -> float64, then stored as float32.
        mapX[p] = (float) (x + (double) mapX[p]);
        mapY[p] = (float) (y + (double) mapY[p]);
      }
    }
    Warp.remapLanczos(sample.rgb(), sample.spareRgb(), w, h, mapX, mapY, Warp.Border.REFLECT_101);
    sample.swapRgb();
    Warp.remapNearest(sample.mask(), sample.spareMask(), w, h, mapX, mapY, Warp.Border.REFLECT_101);
    sample.swapMask();
  }

  /** cv2.getAffineTransform(pts1, pts2) for the three jittered points of albumentations. */
  private double[] randomAffine(int w, int h, SplittableRandom random) {
    // albumentations' centre_square is (height // 2, width // 2) used as (x, y) point coordinates.
    float c0 = h / 2;
    float c1 = w / 2;
    float half = Math.min(h, w) / 3;
    float[][] from = {{c0 + half, c1 + half}, {c0 + half, c1 - half}, {c0 - half, c1 - half}};
    float[][] to = new float[3][2];
    Range jitter = Range.around(0, config.alphaAffine());
    for (int i = 0; i < 3; i++) {
      for (int j = 0; j < 2; j++) {
        to[i][j] = from[i][j] + (float) jitter.draw(random);
      }
    }
    return solveAffine(from, to);
  }

  /** The 2x3 matrix mapping three source points onto three destination points (Cramer's rule). */
  static double[] solveAffine(float[][] from, float[][] to) {
    double x0 = from[0][0];
    double y0 = from[0][1];
    double x1 = from[1][0];
    double y1 = from[1][1];
    double x2 = from[2][0];
    double y2 = from[2][1];
    double det = x0 * (y1 - y2) - y0 * (x1 - x2) + (x1 * y2 - x2 * y1);
    double[] m = new double[6];
    for (int row = 0; row < 2; row++) {
      double u0 = to[0][row];
      double u1 = to[1][row];
      double u2 = to[2][row];
      m[row * 3] = (u0 * (y1 - y2) - y0 * (u1 - u2) + (u1 * y2 - u2 * y1)) / det;
      m[row * 3 + 1] = (x0 * (u1 - u2) - u0 * (x1 - x2) + (x1 * u2 - x2 * u1)) / det;
      m[row * 3 + 2] = (x0 * (y1 * u2 - y2 * u1) - y0 * (x1 * u2 - x2 * u1)
          + u0 * (x1 * y2 - x2 * y1)) / det;
    }
    return m;
  }

  /** float32(gaussian(uniform(-1, 1) noise, sigma) * alpha), row-major h x w. */
  private float[] displacement(int w, int h, SplittableRandom random) {
    double[] field = new double[w * h];
    for (int p = 0; p < field.length; p++) {
      field[p] = random.nextDouble() * 2 - 1;
    }
    GaussianBlur.blur(field, w, h, config.sigma());
    float[] out = new float[field.length];
    for (int p = 0; p < field.length; p++) {
      out[p] = (float) (field[p] * config.alpha());
    }
    return out;
  }
}
