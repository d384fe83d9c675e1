package org.effiseg.nativeapi;

/**
 * Stride, padding and groups of a 2-D convolution. Padding may be asymmetric: TensorFlow's
 * "SAME" puts the odd extra row/column at the bottom/right, which is what EfficientNet's
 * pretrained weights (and efficientnet_pytorch / MONAI) use.
 */
public record ConvSpec(
    int strideH, int strideW, int padTop, int padBottom, int padLeft, int padRight, int groups) {

  public ConvSpec {
    if (strideH < 1 || strideW < 1 || groups < 1) {
      throw new IllegalArgumentException("stride and groups must be >= 1: " + this);
    }
    if (padTop < 0 || padBottom < 0 || padLeft < 0 || padRight < 0) {
      throw new IllegalArgumentException("padding must be >= 0: " + this);
    }
  }

  /** The same padding on every side (PyTorch's {@code padding=pad}). */
  public static ConvSpec symmetric(int pad, int stride, int groups) {
    return new ConvSpec(stride, stride, pad, pad, pad, pad, groups);
  }

  /** TensorFlow "SAME": output = ceil(input / stride), extra padding at bottom/right. */
  public static ConvSpec same(int inH, int inW, int kH, int kW, int stride, int groups) {
    int padH = samePadding(inH, kH, stride);
    int padW = samePadding(inW, kW, stride);
    return new ConvSpec(stride, stride, padH / 2, padH - padH / 2, padW / 2, padW - padW / 2, groups);
  }

  private static int samePadding(int in, int k, int stride) {
    int out = (in + stride - 1) / stride;
    return Math.max((out - 1) * stride + k - in, 0);
  }

  public int outH(int inH, int kH) {
    return (inH + padTop + padBottom - kH) / strideH + 1;
  }

  public int outW(int inW, int kW) {
    return (inW + padLeft + padRight - kW) / strideW + 1;
  }
}
