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
 * The arithmetic is {@link BatchNormFolding}'s (as the ONNX export's); the model remakes them whenever its
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
    BatchNormFolding.Affine affine = bn.evalAffine();
    float[] w = BatchNormFolding.foldWeightsOutputInnermost(conv.weight().read(), affine);
    float[] b = BatchNormFolding.foldBias(conv.bias() != null ? conv.bias().read() : null, affine);
    return new EvalConv(ctx.tensor(w, conv.weight().shape()), ctx.tensor(b, b.length), null, null, true);
  }

  static EvalConv affineAfter(Context ctx, Conv2dLayer conv, BatchNormLayer bn) {
    BatchNormFolding.Affine affine = bn.evalAffine();
    return new EvalConv(conv.weight(), conv.bias(), ctx.tensor(affine.scale(), bn.channels),
        ctx.tensor(affine.shift(), bn.channels), false);
  }

  /** The convolution as it is (its own weight and bias, nothing after). */
  static EvalConv plain(Conv2dLayer conv) {
    return new EvalConv(conv.weight(), conv.bias(), null, null, false);
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
