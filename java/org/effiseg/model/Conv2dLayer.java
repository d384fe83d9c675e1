package org.effiseg.model;

import org.effiseg.nativeapi.Activation;
import org.effiseg.nativeapi.ConvSpec;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Ops;
import org.effiseg.nativeapi.Tensor;

/**
 * A 2-D convolution whose weights (and optional bias) are views of a {@link ParameterBlock}.
 * Padding is either TensorFlow "SAME" computed from the actual input size (as efficientnet's
 * dynamic-padding convs) or a fixed symmetric amount (PyTorch {@code padding=p}).
 */
final class Conv2dLayer {
  private final String weightName;
  private final String biasName;
  final int inChannels;
  final int outChannels;
  final int kernel;
  final int stride;
  final int groups;
  private final int symmetricPad; // < 0: TF SAME
  private Tensor w;
  private Tensor b;
  private Tensor dw;
  private Tensor db;

  /**
   * Registers the weight (and a bias, unless {@code biasInit} is null) in {@code layout} as {@code name.weight}
   * and {@code name.bias}.
   *
   * @param pad fixed symmetric padding, or -1 for TF SAME
   */
  Conv2dLayer(
      ParameterLayout layout,
      String name,
      int in,
      int out,
      int kernel,
      int stride,
      int groups,
      int pad,
      ParameterLayout.Init init,
      ParameterLayout.Init biasInit) {
    this.weightName = name + ".weight";
    this.biasName = biasInit != null ? name + ".bias" : null;
    this.inChannels = in;
    this.outChannels = out;
    this.kernel = kernel;
    this.stride = stride;
    this.groups = groups;
    this.symmetricPad = pad;
    layout.addConv(weightName, out, in / groups, kernel, init);
    if (biasInit != null) {
      layout.addVector(biasName, out, biasInit, (long) (in / groups) * kernel * kernel);
    }
  }

  void bind(ParameterBlock p) {
    w = p.weight(weightName);
    dw = p.grad(weightName);
    if (biasName != null) {
      b = p.weight(biasName);
      db = p.grad(biasName);
    }
  }

  ConvSpec spec(int h, int wd) {
    return symmetricPad < 0
        ? ConvSpec.same(h, wd, kernel, kernel, stride, groups)
        : ConvSpec.symmetric(symmetricPad, stride, groups);
  }

  /** y = conv(x), a new tensor. */
  Tensor forward(Workspace ws, Tensor x) {
    ConvSpec s = spec((int) x.dim(1), (int) x.dim(2));
    Tensor y = output(ws, x, s);
    Ops.conv2dForward(ws.ctx(), x, w, b, y, s);
    return y;
  }

  /**
   * {@code act(conv(x))}, a new tensor: the activation is the convolution's epilogue, applied to
   * each block of y while it is in cache, so conv(x) is never written out on its own.
   */
  Tensor forward(Workspace ws, Tensor x, Activation act) {
    ConvSpec s = spec((int) x.dim(1), (int) x.dim(2));
    Tensor y = output(ws, x, s);
    Ops.conv2dForwardFused(ws.ctx(), x, w, b, y, s, act, null, null, null);
    return y;
  }

  /**
   * {@code act(conv(x))}, a new tensor, for a pointwise convolution whose input comes as two
   * channel blocks: each block times its rows of w, summed, then act, in one pass ({@link
   * Ops#conv2dForwardBlocks}); the blocks are never written side by side.
   */
  Tensor forward(Workspace ws, ChannelBlocks x, Activation act) {
    if (!x.split()) {
      return forward(ws, x.first(), act);
    }
    requirePointwise();
    Tensor y = output(ws, x.first(), spec((int) x.first().dim(1), (int) x.first().dim(2)));
    Ops.conv2dForwardBlocks(ws.ctx(), x.first(), x.second(), w, b, y, act, null, null, null);
    return y;
  }

  /**
   * {@link #backward(Workspace, Tensor, Tensor, boolean)} for an input given as two channel
   * blocks: dweight's rows of each block from that block, dx as two blocks (new tensors), or
   * null when {@code needDx} is false.
   */
  ChannelBlocks backward(Workspace ws, ChannelBlocks x, Tensor dy, boolean needDx) {
    if (!x.split()) {
      Tensor dx = backward(ws, x.first(), dy, needDx);
      return dx == null ? null : ChannelBlocks.of(dx);
    }
    requirePointwise();
    ConvSpec s = spec((int) x.first().dim(1), (int) x.first().dim(2));
    long c1 = x.first().dim(3);
    long c2 = inChannels - c1;
    Tensor dx1 = needDx ? ws.take(x.first().shape()) : null;
    Tensor dx2 = needDx ? ws.take(x.second().shape()) : null;
    try (Tensor w1 = w.view(0, 1, 1, c1, outChannels);
        Tensor w2 = w.view(c1 * outChannels, 1, 1, c2, outChannels);
        Tensor dw1 = dw.view(0, 1, 1, c1, outChannels);
        Tensor dw2 = dw.view(c1 * outChannels, 1, 1, c2, outChannels)) {
      Ops.conv2dBackward(ws.ctx(), x.first(), w1, dy, dx1, dw1, db, s);
      Ops.conv2dBackward(ws.ctx(), x.second(), w2, dy, dx2, dw2, null, s);
    }
    return needDx ? new ChannelBlocks(dx1, dx2) : null;
  }

  /** A pointwise convolution whose batch norm after it finishes its dy: no bias. */
  private void requireBeforeBatchNorm() {
    requirePointwise();
    if (b != null) {
      throw new IllegalStateException(weightName + ": a convolution before a batch norm has no bias");
    }
  }

  private void requirePointwise() {
    if (kernel != 1 || stride != 1 || groups != 1) {
      throw new IllegalStateException(
          weightName + ": channel blocks need a 1x1 convolution with stride 1 and no groups");
    }
  }

  private Tensor output(Workspace ws, Tensor x, ConvSpec s) {
    return ws.take(x.dim(0), s.outH((int) x.dim(1), kernel), s.outW((int) x.dim(2), kernel), outChannels);
  }

  /**
   * This convolution in {@code g}, with the eval-mode batch norm {@code bn} folded in and its
   * activation after it (bn may be null: the convolution alone).
   */
  InferenceGraph.Value describe(InferenceGraph g, InferenceGraph.Value x, BatchNormLayer bn) {
    InferenceGraph.Value y = g.conv(x, weightName, biasName, outChannels, kernel, spec(x.height(), x.width()),
        bn == null ? null : bn.prefix, bn == null ? 0 : bn.eps);
    return bn == null ? y : g.activation(y, bn.activation);
  }

  /**
   * Eval: {@code act(conv(x, e.weight) + e.bias) * e.scale + e.shift + residual} in one pass
   * (residual may be null), a new tensor.
   */
  Tensor forward(Workspace ws, Tensor x, EvalConv e, Activation act, Tensor residual) {
    ConvSpec s = spec((int) x.dim(1), (int) x.dim(2));
    Tensor y = output(ws, x, s);
    Ops.conv2dForwardFused(ws.ctx(), x, e.weight, e.bias, y, s, act, e.scale, e.shift, residual);
    return y;
  }

  /**
   * {@code conv(x * s) + b} (a new tensor) for this pointwise convolution, s [N,1,1,Cin] per sample
   * and channel (a squeeze-excite gate): the product is made a block at a time as the convolution
   * reads it, never written out.
   */
  Tensor forwardGated(Workspace ws, Tensor x, Tensor s) {
    requirePointwise();
    Tensor y = output(ws, x, spec((int) x.dim(1), (int) x.dim(2)));
    Ops.conv2dForwardGated(ws.ctx(), x, s, w, b, y, Activation.NONE, null, null, null);
    return y;
  }

  /** Eval: {@link #forward(Workspace, Tensor, EvalConv, Activation, Tensor)} of {@code x * s}. */
  Tensor forwardGated(Workspace ws, Tensor x, Tensor s, EvalConv e, Activation act, Tensor residual) {
    requirePointwise();
    Tensor y = output(ws, x, spec((int) x.dim(1), (int) x.dim(2)));
    Ops.conv2dForwardGated(ws.ctx(), x, s, e.weight, e.bias, y, act, e.scale, e.shift, residual);
    return y;
  }

  /**
   * The backward pass of {@link #forwardGated(Workspace, Tensor, Tensor)}: writes dweight (and
   * dbias) and the gate's gradient into {@code ds}; returns the gradient with respect to the
   * product {@code x * s} (a new tensor).
   */
  Tensor backwardGated(Workspace ws, Tensor x, Tensor s, Tensor dy, Tensor ds) {
    Tensor dProduct = ws.take(x.shape());
    Ops.conv2dBackwardGated(ws.ctx(), x, s, w, dy, dProduct, dw, db, ds);
    return dProduct;
  }

  /**
   * Backward of this pointwise convolution (gated by {@code s} when it is non-null; no bias) whose
   * output went into the batch norm whose dx {@code bn} left unfinished: the convolution forms its
   * dy from it a block at a time. Writes dweight and, with s, the gate's gradient into {@code ds}
   * (may be null); returns dx (a new tensor), or null when {@code needDx} is false.
   */
  Tensor backwardBn(Workspace ws, Tensor x, Tensor s, BatchNormLayer.Deferred bn, Tensor ds, boolean needDx) {
    requireBeforeBatchNorm();
    Tensor dx = needDx ? ws.take(x.shape()) : null;
    Ops.conv2dBackwardBn(ws.ctx(), x, s, w, bn.gr(), bn.x(), bn.mean(), bn.coef(), bn.inputRelu(), dx, dw, ds);
    return dx;
  }

  /**
   * {@link #backwardBn(Workspace, Tensor, Tensor, BatchNormLayer.Deferred, Tensor, boolean)} (not
   * gated) of {@link #forward(Workspace, ChannelBlocks, Activation)}: the batch norm's dx formed once
   * per block of rows for both channel blocks. Writes dweight; returns dx blocked as x was, or null
   * when {@code needDx} is false.
   */
  ChannelBlocks backwardBn(Workspace ws, ChannelBlocks x, BatchNormLayer.Deferred bn, boolean needDx) {
    if (!x.split()) {
      Tensor dx = backwardBn(ws, x.first(), null, bn, null, needDx);
      return dx == null ? null : ChannelBlocks.of(dx);
    }
    requireBeforeBatchNorm();
    Tensor dx1 = needDx ? ws.take(x.first().shape()) : null;
    Tensor dx2 = needDx ? ws.take(x.second().shape()) : null;
    Ops.conv2dBackwardBnBlocks(ws.ctx(), x.first(), x.second(), w, bn.gr(), bn.x(), bn.mean(), bn.coef(),
        bn.inputRelu(), dx1, dx2, dw);
    return needDx ? new ChannelBlocks(dx1, dx2) : null;
  }

  Tensor weight() {
    return w;
  }

  /** The bias, or null. */
  Tensor bias() {
    return b;
  }

  /**
   * Writes dweight (and dbias) into the gradient block; returns dx (a new tensor) or null when
   * {@code needDx} is false.
   */
  Tensor backward(Workspace ws, Tensor x, Tensor dy, boolean needDx) {
    Tensor dx = needDx ? ws.take(x.shape()) : null;
    Ops.conv2dBackward(ws.ctx(), x, w, dy, dx, dw, db, spec((int) x.dim(1), (int) x.dim(2)));
    return dx;
  }
}
