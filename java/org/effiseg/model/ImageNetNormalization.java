package org.effiseg.model;

/**
 * The input normalisation every EfficientNet here was trained with: RGB scaled to [0, 1], minus
 * the ImageNet mean, divided by the ImageNet standard deviation, per channel (R, G, B).
 * Training, inference, the pretrained classifiers and the ONNX export all use these values.
 */
public final class ImageNetNormalization {
  private static final float[] MEAN = {0.485f, 0.456f, 0.406f};
  private static final float[] STD = {0.229f, 0.224f, 0.225f};

  private ImageNetNormalization() {}

  /** The mean of channel {@code c} (0 red, 1 green, 2 blue), on the [0, 1] scale. */
  public static float mean(int c) {
    return MEAN[c];
  }

  /** The standard deviation of channel {@code c}, on the [0, 1] scale. */
  public static float std(int c) {
    return STD[c];
  }
}
