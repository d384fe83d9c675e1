package org.effiseg.model;

import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Tensor;

/**
 * The eval-mode weights of one convolution and the batch norm next to it, for the fused forward
 * pass ({@code es_conv2d_forward_fused}: {@code y = act(conv(x, weight) + bias) * scale + shift}):
 *
 * <ul>
 *   <li>{@link #foldBefore}: a BN between the convolution and its activation (the encoder's conv →
 *       BN → swish) folds into the convolution, per output channel c with {@code s = gamma /
 *       sqrt(var + eps)}: {@code weight[..., c] = w[..., c] * s}, {@code bias[c] = (b[c] - mean)
 *       * s + beta};
 *   <li>{@link #affineAfter}: a BN after the activation (the decoder's conv → ReLU → BN) cannot
 *       fold into the weights, so it becomes the epilogue's {@code scale = s}, {@code shift = beta
 *       - mean * s}.
 * </ul>
 *
 * Computed in double from the current parameters; the model remakes them whenever its
 * parameters change ({@link ParameterBlock#version()}). Tensors made here are owned and closed
 * here; the convolution's own weight, when used as is, is not.
 */
final class EvalConv implements AutoCloseable {
  final Tensor weight;
  final Tensor bias; // null: none
  final Tensor scale; // null: 1
  final Tensor shift; // null: 0
  private final boolean ownsWeight;

  private EvalConv(Tensor weight, Tensor bias, Tensor scale, Tensor shift, boolean ownsWeight) {
    this.weight = weight;
    this.bias = bias;
    this.scale = scale;
    this.shift = shift;
    this.ownsWeight = ownsWeight;
  }

  static EvalConv foldBefore(Context ctx, Conv2dLayer conv, BatchNormLayer bn) {
    double[][] st = bn.evalScaleShift();
    double[] s = st[0];
    double[] t = st[1];
    float[] w = conv.weight().read();
    int cout = conv.outChannels;
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) (w[i] * s[i % cout]);
    }
    float[] b = conv.bias() != null ? conv.bias().read() : new float[cout];
    float[] folded = new float[cout];
    for (int c = 0; c < cout; c++) {
      folded[c] = (float) (b[c] * s[c] + t[c]);
    }
    return new EvalConv(ctx.tensor(w, conv.weight().shape()), ctx.tensor(folded, cout), null, null, true);
  }

  static EvalConv affineAfter(Context ctx, Conv2dLayer conv, BatchNormLayer bn) {
    double[][] st = bn.evalScaleShift();
    return new EvalConv(conv.weight(), conv.bias(), ctx.tensor(toFloat(st[0]), bn.channels),
        ctx.tensor(toFloat(st[1]), bn.channels), false);
  }

  /** The convolution as it is (its own weight and bias, nothing after). */
  static EvalConv plain(Conv2dLayer conv) {
    return new EvalConv(conv.weight(), conv.bias(), null, null, false);
  }

  private static float[] toFloat(double[] v) {
    float[] f = new float[v.length];
    for (int i = 0; i < v.length; i++) {
      f[i] = (float) v[i];
    }
    return f;
  }

  @Override
  public void close() {
    if (ownsWeight) {
      weight.close();
      bias.close();
    }
    if (scale != null) {
      scale.close();
      shift.close();
    }
  }
}
