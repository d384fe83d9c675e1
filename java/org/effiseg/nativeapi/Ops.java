package org.effiseg.nativeapi;

import static org.effiseg.nativeapi.EffisegException.check;
import static org.effiseg.nativeapi.Tensor.handleOrZero;

/**
 * Every op of the native core, one static method per C function of effiseg.h, same argument
 * order. Activations are NHWC; conv weights are [KH, KW, Cin/groups, Cout]. A {@code null}
 * tensor is "absent" where effiseg.h allows it (bias, a gradient to skip) and an {@link
 * EffisegException} naming the argument where it does not. Backward ops overwrite their outputs.
 *
 * <p>Thread-safety: stateless, but ops on one {@link Context} should be issued from one thread at
 * a time (see there).
 */
public final class Ops {
  private Ops() {}

  private static long h(Tensor t) {
    return handleOrZero(t);
  }

  private static long c(Context ctx) {
    if (ctx == null) {
      throw new EffisegException(EffisegException.Status.NULL_HANDLE, "context is null");
    }
    return ctx.handle();
  }

  private static int flag(boolean b) {
    return b ? 1 : 0;
  }

  /** y = a + b. */
  public static void add(Context ctx, Tensor a, Tensor b, Tensor y) {
    check(EffisegNative.es_add(c(ctx), h(a), h(b), h(y)));
  }

  /** y = alpha * x + beta * y. */
  public static void axpby(Context ctx, float alpha, Tensor x, float beta, Tensor y) {
    check(EffisegNative.es_axpby(c(ctx), alpha, h(x), beta, h(y)));
  }

  public static void conv2dForward(Context ctx, Tensor x, Tensor w, Tensor b, Tensor y, ConvSpec s) {
    check(
        EffisegNative.es_conv2d_forward(
            c(ctx), h(x), h(w), h(b), h(y), s.strideH(), s.strideW(), s.padTop(), s.padBottom(),
            s.padLeft(), s.padRight(), s.groups()));
  }

  /**
   * The convolution with an epilogue before y is written: {@code y = act(conv(x, w) + b) * scale +
   * shift + residual}; b, scale, shift ([Cout]) and residual (y's shape) may each be null.
   */
  public static void conv2dForwardFused(Context ctx, Tensor x, Tensor w, Tensor b, Tensor y, ConvSpec s,
      Activation activation, Tensor scale, Tensor shift, Tensor residual) {
    check(
        EffisegNative.es_conv2d_forward_fused(
            c(ctx), h(x), h(w), h(b), h(y), s.strideH(), s.strideW(), s.padTop(), s.padBottom(),
            s.padLeft(), s.padRight(), s.groups(), activation.ordinal(), h(scale), h(shift), h(residual)));
  }

  public static void conv2dBackward(
      Context ctx, Tensor x, Tensor w, Tensor dy, Tensor dx, Tensor dw, Tensor db, ConvSpec s) {
    check(
        EffisegNative.es_conv2d_backward(
            c(ctx), h(x), h(w), h(dy), h(dx), h(dw), h(db), s.strideH(), s.strideW(), s.padTop(),
            s.padBottom(), s.padLeft(), s.padRight(), s.groups()));
  }

  /**
   * A pointwise convolution (1x1, stride 1, no padding, no groups) of {@code x * s}, s [N,1,1,Cin]
   * per sample and channel, with the epilogue of {@link #conv2dForwardFused}; the product is never
   * written out. The same values as {@link #channelScaleForward} then {@link #conv2dForwardFused}.
   */
  public static void conv2dForwardGated(Context ctx, Tensor x, Tensor s, Tensor w, Tensor b, Tensor y,
      Activation activation, Tensor scale, Tensor shift, Tensor residual) {
    check(
        EffisegNative.es_conv2d_forward_gated(
            c(ctx), h(x), h(s), h(w), h(b), h(y), activation.ordinal(), h(scale), h(shift), h(residual)));
  }

  /**
   * The backward pass of {@link #conv2dForwardGated}: {@link #conv2dBackward}'s for the input
   * {@code x * s}, so dx is the gradient with respect to that product; ds [N,1,1,Cin] the
   * gradient with respect to s (the sum over each sample's pixels of dx * x; needs dx). dx, dw,
   * db, ds may be null.
   */
  public static void conv2dBackwardGated(
      Context ctx, Tensor x, Tensor s, Tensor w, Tensor dy, Tensor dx, Tensor dw, Tensor db,
      Tensor ds) {
    check(
        EffisegNative.es_conv2d_backward_gated(
            c(ctx), h(x), h(s), h(w), h(dy), h(dx), h(dw), h(db), h(ds)));
  }

  /**
   * {@link #conv2dForwardFused} of a pointwise convolution whose input is the channel
   * concatenation [x | x2] (w [1,1,C1+C2,Cout]), without writing it: w's first C1 rows multiply x,
   * the rest x2, and the epilogue sees their sum.
   */
  public static void conv2dForwardBlocks(Context ctx, Tensor x, Tensor x2, Tensor w, Tensor b, Tensor y,
      Activation activation, Tensor scale, Tensor shift, Tensor residual) {
    check(
        EffisegNative.es_conv2d_forward_blocks(
            c(ctx), h(x), h(x2), h(w), h(b), h(y), activation.ordinal(), h(scale), h(shift), h(residual)));
  }

  /**
   * The backward pass of a pointwise convolution (gated when s is non-null, as {@link
   * #conv2dBackwardGated}; else as {@link #conv2dBackward}, no bias) whose output went into a
   * training-mode batch norm, with that batch norm's dx, left unfinished by {@link
   * #batchnormBackwardDeferred} (gr, coef), formed as its dy a block of rows at a time. bnX is the
   * batch norm's input (the convolution's output), saveMean its batch mean; inputRelu: bnX is a
   * ReLU's output (dy is then the batch norm's dx times [bnX > 0]). dx, dw, ds may be null.
   */
  public static void conv2dBackwardBn(Context ctx, Tensor x, Tensor s, Tensor w, Tensor gr, Tensor bnX,
      Tensor saveMean, Tensor coef, boolean inputRelu, Tensor dx, Tensor dw, Tensor ds) {
    check(
        EffisegNative.es_conv2d_backward_bn(
            c(ctx), h(x), h(s), h(w), h(gr), h(bnX), h(saveMean), h(coef), flag(inputRelu), h(dx),
            h(dw), h(ds)));
  }

  /**
   * {@link #conv2dBackwardBn} (not gated) of {@link #conv2dForwardBlocks}' convolution: its input in
   * two channel blocks x and x2, w [1,1,C1+C2,Cout]. dx and dx2 (both or neither) are the two
   * blocks' gradients, dw (may be null) w's, x's rows first.
   */
  public static void conv2dBackwardBnBlocks(Context ctx, Tensor x, Tensor x2, Tensor w, Tensor gr, Tensor bnX,
      Tensor saveMean, Tensor coef, boolean inputRelu, Tensor dx, Tensor dx2, Tensor dw) {
    check(
        EffisegNative.es_conv2d_backward_bn_blocks(
            c(ctx), h(x), h(x2), h(w), h(gr), h(bnX), h(saveMean), h(coef), flag(inputRelu), h(dx),
            h(dx2), h(dw)));
  }

  /**
   * Training-mode {@link #batchnormBackward} without its last pass: gr = dy * act'(pre) (gr may be
   * dy), coef [3, C] with dx = coef[0] * gr + coef[1] * (x - saveMean) + coef[2], dgamma and dbeta
   * (may be null); {@link #conv2dBackwardBn} finishes dx as it reads it.
   */
  public static void batchnormBackwardDeferred(Context ctx, Tensor x, Tensor gamma, Tensor beta, Tensor dy,
      Tensor saveMean, Tensor saveInvstd, Tensor gr, Tensor coef, Tensor dgamma, Tensor dbeta,
      Activation activation) {
    check(
        EffisegNative.es_batchnorm_backward_deferred(
            c(ctx), h(x), h(gamma), h(beta), h(dy), h(saveMean), h(saveInvstd), h(gr), h(coef),
            h(dgamma), h(dbeta), activation.ordinal()));
  }

  public static void batchnormForward(
      Context ctx,
      Tensor x,
      Tensor gamma,
      Tensor beta,
      Tensor runningMean,
      Tensor runningVar,
      Tensor y,
      Tensor saveMean,
      Tensor saveInvstd,
      boolean training,
      float momentum,
      float eps,
      Activation act) {
    check(
        EffisegNative.es_batchnorm_forward(
            c(ctx), h(x), h(gamma), h(beta), h(runningMean), h(runningVar), h(y), h(saveMean),
            h(saveInvstd), flag(training), momentum, eps, act.ordinal()));
  }

  /**
   * {@link #batchnormForward} that also writes {@code pooled} [N,1,1,C], y's mean over each
   * sample's pixels, as {@link #globalAvgPoolForward} of y would, in the pass that writes y.
   */
  public static void batchnormForwardPooled(
      Context ctx,
      Tensor x,
      Tensor gamma,
      Tensor beta,
      Tensor runningMean,
      Tensor runningVar,
      Tensor y,
      Tensor saveMean,
      Tensor saveInvstd,
      boolean training,
      float momentum,
      float eps,
      Activation act,
      Tensor pooled) {
    check(
        EffisegNative.es_batchnorm_forward_pooled(
            c(ctx), h(x), h(gamma), h(beta), h(runningMean), h(runningVar), h(y), h(saveMean),
            h(saveInvstd), flag(training), momentum, eps, act.ordinal(), h(pooled)));
  }

  /**
   * {@link #batchnormForward} of a larger tensor in which every pixel of {@code x} appears {@code
   * repeats} times (x before a nearest upsampling by an integer factor, which batch norm commutes
   * with): the same y and batch statistics; the running variance's unbiased correction counts
   * {@code rows * repeats} values, as the larger tensor's batch norm would.
   */
  public static void batchnormForwardRepeated(
      Context ctx,
      Tensor x,
      Tensor gamma,
      Tensor beta,
      Tensor runningMean,
      Tensor runningVar,
      Tensor y,
      Tensor saveMean,
      Tensor saveInvstd,
      boolean training,
      float momentum,
      float eps,
      Activation act,
      long repeats) {
    check(
        EffisegNative.es_batchnorm_forward_repeated(
            c(ctx), h(x), h(gamma), h(beta), h(runningMean), h(runningVar), h(y), h(saveMean),
            h(saveInvstd), flag(training), momentum, eps, act.ordinal(), repeats));
  }

  public static void batchnormBackward(
      Context ctx,
      Tensor x,
      Tensor gamma,
      Tensor beta,
      Tensor dy,
      Tensor saveMean,
      Tensor saveInvstd,
      Tensor dx,
      Tensor dgamma,
      Tensor dbeta,
      boolean training,
      Activation act) {
    check(
        EffisegNative.es_batchnorm_backward(
            c(ctx), h(x), h(gamma), h(beta), h(dy), h(saveMean), h(saveInvstd), h(dx), h(dgamma),
            h(dbeta), flag(training), act.ordinal()));
  }

  /**
   * {@link #batchnormBackward} for a batch norm whose input {@code x} is a ReLU's output: dx is
   * the gradient with respect to the ReLU's input (also multiplied by [x > 0]), in one pass
   * instead of batchnormBackward followed by {@code activationBackward(RELU, x, ...)}.
   */
  public static void batchnormBackwardAfterRelu(
      Context ctx,
      Tensor x,
      Tensor gamma,
      Tensor beta,
      Tensor dy,
      Tensor saveMean,
      Tensor saveInvstd,
      Tensor dx,
      Tensor dgamma,
      Tensor dbeta,
      boolean training,
      Activation act) {
    check(
        EffisegNative.es_batchnorm_backward_after_relu(
            c(ctx), h(x), h(gamma), h(beta), h(dy), h(saveMean), h(saveInvstd), h(dx), h(dgamma),
            h(dbeta), flag(training), act.ordinal()));
  }

  /**
   * {@link #batchnormBackward} whose incoming gradient is {@code dy * s + alpha * t}, s and t [N,1,1,C]
   * (per sample and channel), formed as dy is read: what {@link #channelScaleAdd} would make of
   * dy, without writing it (a squeeze-excite block's input gradient going into the batch norm
   * before it).
   */
  public static void batchnormBackwardGated(
      Context ctx,
      Tensor x,
      Tensor gamma,
      Tensor beta,
      Tensor dy,
      Tensor s,
      Tensor t,
      float alpha,
      Tensor saveMean,
      Tensor saveInvstd,
      Tensor dx,
      Tensor dgamma,
      Tensor dbeta,
      boolean training,
      Activation act) {
    check(
        EffisegNative.es_batchnorm_backward_gated(
            c(ctx), h(x), h(gamma), h(beta), h(dy), h(s), h(t), alpha, h(saveMean), h(saveInvstd),
            h(dx), h(dgamma), h(dbeta), flag(training), act.ordinal()));
  }

  public static void activationForward(Context ctx, Activation act, Tensor x, Tensor y) {
    check(EffisegNative.es_activation_forward(c(ctx), act.ordinal(), h(x), h(y)));
  }

  public static void activationBackward(Context ctx, Activation act, Tensor x, Tensor dy, Tensor dx) {
    check(EffisegNative.es_activation_backward(c(ctx), act.ordinal(), h(x), h(dy), h(dx)));
  }

  /** x [N,H,W,C] to y [N,1,1,C]. */
  public static void globalAvgPoolForward(Context ctx, Tensor x, Tensor y) {
    check(EffisegNative.es_global_avg_pool_forward(c(ctx), h(x), h(y)));
  }

  public static void globalAvgPoolBackward(Context ctx, Tensor dy, Tensor dx) {
    check(EffisegNative.es_global_avg_pool_backward(c(ctx), h(dy), h(dx)));
  }

  /** y = x * s, s [N,1,1,C]: the squeeze-excite gate. */
  public static void channelScaleForward(Context ctx, Tensor x, Tensor s, Tensor y) {
    check(EffisegNative.es_channel_scale_forward(c(ctx), h(x), h(s), h(y)));
  }

  /** y = x * s + alpha * t, with s and t [N,1,1,C] (per sample and channel); y may be x. */
  public static void channelScaleAdd(Context ctx, Tensor x, Tensor s, Tensor t, float alpha, Tensor y) {
    check(EffisegNative.es_channel_scale_add(c(ctx), h(x), h(s), h(t), alpha, h(y)));
  }

  public static void channelScaleBackward(
      Context ctx, Tensor x, Tensor s, Tensor dy, Tensor dx, Tensor ds) {
    check(EffisegNative.es_channel_scale_backward(c(ctx), h(x), h(s), h(dy), h(dx), h(ds)));
  }

  public static void dropPathForward(
      Context ctx, Tensor x, Tensor y, float dropRate, long seed, boolean training) {
    check(EffisegNative.es_drop_path_forward(c(ctx), h(x), h(y), dropRate, seed, flag(training)));
  }

  public static void dropPathBackward(
      Context ctx, Tensor dy, Tensor dx, float dropRate, long seed, boolean training) {
    check(
        EffisegNative.es_drop_path_backward(c(ctx), h(dy), h(dx), dropRate, seed, flag(training)));
  }

  /** y (+)= nearest-upsampled x, with PyTorch's index rule. */
  public static void upsampleNearestForward(Context ctx, Tensor x, Tensor y, boolean accumulate) {
    check(EffisegNative.es_upsample_nearest_forward(c(ctx), h(x), h(y), flag(accumulate)));
  }

  public static void upsampleNearestBackward(Context ctx, Tensor dy, Tensor dx) {
    check(EffisegNative.es_upsample_nearest_backward(c(ctx), h(dy), h(dx)));
  }

  /** y[..., yOffset + i] (+)= x[..., xOffset + i] for i &lt; count. */
  public static void channelCopy(
      Context ctx, Tensor x, int xOffset, Tensor y, int yOffset, int count, boolean accumulate) {
    check(
        EffisegNative.es_channel_copy(
            c(ctx), h(x), xOffset, h(y), yOffset, count, flag(accumulate)));
  }

  /**
   * The fused loss: terms [4] receives {total, dice, bce, npd}; dlogits (optional) the gradient
   * of total.
   */
  public static void segLoss(
      Context ctx,
      Tensor logits,
      Tensor target,
      Tensor terms,
      Tensor dlogits,
      float wDice,
      float wBce,
      float wNpd,
      int npdDistance) {
    check(
        EffisegNative.es_seg_loss(
            c(ctx), h(logits), h(target), h(terms), h(dlogits), wDice, wBce, wNpd, npdDistance));
  }

  public static void adamwStep(
      Context ctx,
      Tensor params,
      Tensor grads,
      Tensor expAvg,
      Tensor expAvgSq,
      float lr,
      float beta1,
      float beta2,
      float eps,
      float weightDecay,
      long step) {
    check(
        EffisegNative.es_adamw_step(
            c(ctx), h(params), h(grads), h(expAvg), h(expAvgSq), lr, beta1, beta2, eps,
            weightDecay, step));
  }
}
