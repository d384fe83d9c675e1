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
