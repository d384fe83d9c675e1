// The augmentation recipe as plain data: probabilities and parameter ranges of every transform.
// Presets (AugmentPresets) are values of this record; the pipeline is built from it.
package org.effiseg.augment;

/**
 * What to apply after the resize, in this order: black rectangle, horizontal flip, vertical flip,
 * colour jitter, affine, elastic; then ImageNet normalisation. A probability of 0 disables a step.
 */
public record AugmentConfig(
    BlackRectangle blackRectangle,
    double horizontalFlipP,
    double verticalFlipP,
    ColorJitter colorJitter,
    Affine affine,
    Elastic elastic) {

  /** Zeroes the top-left {@code fraction} x {@code fraction} of image and mask. */
  public record BlackRectangle(double p, double fraction) {}

  /** Factor ranges as albumentations' ColorJitter holds them after its argument checks. */
  public record ColorJitter(double p, Range brightness, Range contrast, Range saturation, Range hue) {}

  /** Scale (per axis), translation (fraction of width/height, per axis) and rotation (degrees). */
  public record Affine(double p, Range scale, Range translate, Range rotate) {}

  /** albumentations 1.3 ElasticTransform: displacement alpha/sigma plus a random affine. */
  public record Elastic(double p, double alpha, double sigma, double alphaAffine) {}

  public AugmentConfig withBlackRectangle(BlackRectangle value) {
    return new AugmentConfig(value, horizontalFlipP, verticalFlipP, colorJitter, affine, elastic);
  }

  public AugmentConfig withColorJitter(ColorJitter value) {
    return new AugmentConfig(blackRectangle, horizontalFlipP, verticalFlipP, value, affine, elastic);
  }

  public AugmentConfig withAffine(Affine value) {
    return new AugmentConfig(
        blackRectangle, horizontalFlipP, verticalFlipP, colorJitter, value, elastic);
  }

  public AugmentConfig withElastic(Elastic value) {
    return new AugmentConfig(
        blackRectangle, horizontalFlipP, verticalFlipP, colorJitter, affine, value);
  }
}
