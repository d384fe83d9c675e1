// albumentations 1.3.1 Affine (no shear, fit_output=False, keep_ratio=False): independent x/y scale,
// translation as a fraction of width/height, rotation about the pixel centre (w/2-0.5, h/2-0.5),
// composed like its skimage matrices, then cv2.warpAffine: Lanczos-4 for the image, nearest for
// the mask, constant border 0 for both.
package org.effiseg.augment;

import java.util.SplittableRandom;

/** Random scale/translate/rotate applied identically to image and mask. */
record AffineStep(AugmentConfig.Affine config) implements Transform {

  @Override
  public void apply(Sample sample, SplittableRandom random) {
    int w = sample.width();
    int h = sample.height();
    double tx = config.translate().draw(random) * w;
    double ty = config.translate().draw(random) * h;
    double sx = config.scale().draw(random);
    double sy = config.scale().draw(random);
    // albumentations negates the angle (its issue #1079) before building the skimage matrix.
    double angle = Math.toRadians(-config.rotate().draw(random));
    double[] forward = matrix(w, h, sx, sy, angle, tx, ty);
    double[] inverse = Warp.invert(forward);
    Warp.affineLanczos(sample.rgb(), sample.spareRgb(), w, h, inverse, Warp.Border.CONSTANT_ZERO);
    sample.swapRgb();
    Warp.affineNearest(sample.mask(), sample.spareMask(), w, h, inverse, Warp.Border.CONSTANT_ZERO);
    sample.swapMask();
  }

  /** Forward 2x3 matrix: p' = R(angle) S(sx, sy) (p - c) + c + t with c the pixel-centre. */
  static double[] matrix(int w, int h, double sx, double sy, double angle, double tx, double ty) {
    double cos = StrictMath.cos(angle);
    double sin = StrictMath.sin(angle);
    double a00 = sx * cos;
    double a01 = -sy * sin;
    double a10 = sx * sin;
    double a11 = sy * cos;
    double cx = w / 2.0 - 0.5;
    double cy = h / 2.0 - 0.5;
    return new double[] {
      a00, a01, cx + tx - a00 * cx - a01 * cy,
      a10, a11, cy + ty - a10 * cx - a11 * cy
    };
  }
}
