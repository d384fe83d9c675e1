package org.effiseg.model;

import org.effiseg.nativeapi.Activation;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Ops;
import org.effiseg.nativeapi.Tensor;

/**
 * BatchNorm over the channels of an NHWC tensor, optionally fused with the activation after it
 * (the encoder's BN → swish). Parameters are views of a {@link ParameterBlock}; the saved batch
 * statistics live here, one [C] pair per layer.
 */
final class BatchNormLayer {
  /** efficientnet_pytorch / MONAI encoder settings. */
  static final float ENCODER_EPS = 1e-3f;

  static final float ENCODER_MOMENTUM = 0.01f;

  /** PyTorch nn.BatchNorm2d defaults (the decoder). */
  static final float DEFAULT_EPS = 1e-5f;

  static final float DEFAULT_MOMENTUM = 0.1f;

  final String prefix;
  final int channels;
  final float eps;
  private final float momentum;
  final Activation activation;
  private Tensor gamma;
  private Tensor beta;
  private Tensor runningMean;
  private Tensor runningVar;
  private Tensor dgamma;
  private Tensor dbeta;
  private Tensor saveMean;
  private Tensor saveInvstd;
  private Tensor coef; // [3, C]: backwardDeferred's coefficients
  private boolean lastTraining;

  BatchNormLayer(
      ParameterLayout layout,
      String prefix,
      int channels,
      float eps,
      float momentum,
      Activation activation) {
    this.prefix = prefix;
    this.channels = channels;
    this.eps = eps;
    this.momentum = momentum;
    this.activation = activation;
    layout.addBatchNorm(prefix, channels);
  }

  void bind(ParameterBlock p) {
    gamma = p.weight(prefix + ".weight");
    beta = p.weight(prefix + ".bias");
    runningMean = p.weight(prefix + ".running_mean");
    runningVar = p.weight(prefix + ".running_var");
    dgamma = p.grad(prefix + ".weight");
    dbeta = p.grad(prefix + ".bias");
    saveMean = p.scratch(channels);
    saveInvstd = p.scratch(channels);
    coef = p.scratch(3, channels);
  }

  /** y = act(bn(x)), a new tensor; training mode uses and updates batch statistics. */
  Tensor forward(Workspace ws, Tensor x, boolean training) {
    return forward(ws, x, training, 1);
  }

  /**
   * {@link #forward} of the tensor in which every pixel of x appears {@code repeats} times: x
   * before a nearest upsampling that the caller applies to y (batch norm commutes with it). Only
   * the running variance's unbiased correction sees the difference ({@link
   * Ops#batchnormForwardRepeated}); {@link #backward} then takes x and the upsampling's adjoint
   * of the gradient.
   */
  Tensor forward(Workspace ws, Tensor x, boolean training, long repeats) {
    ws.beforeBatchNorm(prefix, x);
    Tensor y = ws.take(x.shape());
    if (repeats == 1) {
      Ops.batchnormForward(ws.ctx(), x, gamma, beta, runningMean, runningVar, y, saveMean, saveInvstd, training,
          momentum, eps, activation);
    } else {
      Ops.batchnormForwardRepeated(ws.ctx(), x, gamma, beta, runningMean, runningVar, y, saveMean, saveInvstd,
          training, momentum, eps, activation, repeats);
    }
    lastTraining = training;
    return y;
  }

  /**
   * {@link #forward} that also writes {@code pooled} [N,1,1,C], y's mean over each sample's pixels
   * (a squeeze-excite block's pooling), in the same pass ({@link Ops#batchnormForwardPooled}).
   */
  Tensor forwardPooled(Workspace ws, Tensor x, boolean training, Tensor pooled) {
    ws.beforeBatchNorm(prefix, x);
    Tensor y = ws.take(x.shape());
    Ops.batchnormForwardPooled(ws.ctx(), x, gamma, beta, runningMean, runningVar, y, saveMean, saveInvstd,
        training, momentum, eps, activation, pooled);
    lastTraining = training;
    return y;
  }

  /** This batch norm (eval mode) and its activation in {@code g}. */
  InferenceGraph.Value describe(InferenceGraph g, InferenceGraph.Value x) {
    return g.activation(g.batchNorm(x, prefix, eps), activation);
  }

  /** Eval mode as a per-channel affine of its input, from the current parameters. */
  BatchNormFolding.Affine evalAffine() {
    return BatchNormFolding.affine(gamma.read(), beta.read(), runningMean.read(), runningVar.read(), eps);
  }

  /** dx (a new tensor) from x (the forward input) and dy; writes dgamma, dbeta. */
  Tensor backward(Workspace ws, Tensor x, Tensor dy) {
    Tensor dx = ws.take(x.shape());
    Ops.batchnormBackward(ws.ctx(), x, gamma, beta, dy, saveMean, saveInvstd, dx, dgamma, dbeta, lastTraining, activation);
    return dx;
  }

  /**
   * {@link #backward} with the incoming gradient {@code dy * s + alpha * t} (s, t [N,1,1,C]), formed
   * as dy is read ({@link Ops#batchnormBackwardGated}); dx is a new tensor.
   */
  Tensor backwardGated(Workspace ws, Tensor x, Tensor dy, Tensor s, Tensor t, float alpha) {
    Tensor dx = ws.take(x.shape());
    Ops.batchnormBackwardGated(ws.ctx(), x, gamma, beta, dy, s, t, alpha, saveMean, saveInvstd, dx, dgamma,
        dbeta, lastTraining, activation);
    return dx;
  }

  /**
   * {@link #backward} for a batch norm whose input x is a ReLU's output: dx (a new tensor) is the
   * gradient with respect to the ReLU's input, in the same pass (x > 0 exactly where that input
   * was, so the ReLU's input need not be kept).
   */
  Tensor backwardAfterRelu(Workspace ws, Tensor x, Tensor dy) {
    Tensor dx = ws.take(x.shape());
    Ops.batchnormBackwardAfterRelu(ws.ctx(), x, gamma, beta, dy, saveMean, saveInvstd, dx, dgamma, dbeta,
        lastTraining, activation);
    return dx;
  }

  /**
   * This batch norm's dx, left unfinished by {@link #backwardDeferred}: what the pointwise
   * convolution before it needs to finish it as its dy ({@link Conv2dLayer#backwardBn}). {@code
   * gr} belongs to the caller of backwardDeferred.
   */
  record Deferred(Tensor gr, Tensor x, Tensor mean, Tensor coef, boolean inputRelu) {}

  /** Whether {@link #backwardDeferred} applies: the last forward was in training mode. */
  boolean deferrable() {
    return lastTraining;
  }

  /**
   * Training-mode backward up to its last pass ({@link Ops#batchnormBackwardDeferred}): writes
   * dgamma, dbeta and gr = dy * act'(pre) into {@code gr} (which may be dy; with no activation dy
   * is left as it is); the rest of dx is the convolution's to form. {@code inputRelu}: x is a
   * ReLU's output, whose gradient the convolution applies too.
   */
  Deferred backwardDeferred(Tensor x, Tensor dy, Tensor gr, boolean inputRelu) {
    if (!lastTraining) {
      throw new IllegalStateException(prefix + ": a deferred backward needs a training-mode forward");
    }
    Ops.batchnormBackwardDeferred(gr.context(), x, gamma, beta, dy, saveMean, saveInvstd, gr, coef, dgamma,
        dbeta, activation);
    return new Deferred(gr, x, saveMean, coef, inputRelu);
  }
}
