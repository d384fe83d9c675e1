package org.effiseg.model;

import org.effiseg.nativeapi.Activation;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Ops;
import org.effiseg.nativeapi.Tensor;

/**
 * The mobile inverted bottleneck of efficientnet_pytorch / MONAI: [1x1 expand → BN → swish] →
 * depthwise k×k (TF SAME) → BN → swish → squeeze-excite (pool → 1x1 reduce + bias → swish → 1x1
 * expand + bias → sigmoid → scale) → 1x1 project → BN, plus the identity skip with drop-connect
 * when the stride is 1 and the channels match.
 *
 * <p>Training keeps the tensors the backward pass needs. The squeeze-excite product (the
 * project conv's input, one expanded-size tensor) is never written out: the project conv takes
 * the gate and makes the product a block at a time as it reads it, forward and backward.
 */
final class MBConvBlock {
  private final Conv2dLayer expandConv; // null when expandRatio == 1
  private final BatchNormLayer bn0;
  private final Conv2dLayer depthwiseConv;
  private final BatchNormLayer bn1;
  private final Conv2dLayer seReduce;
  private final Conv2dLayer seExpand;
  private final Conv2dLayer projectConv;
  private final BatchNormLayer bn2;
  private final boolean skip;
  final float dropConnectRate;

  // Saved by forward(training=true) for backward.
  private Tensor input;
  private Tensor expanded; // expand conv output (bn0 input)
  private Tensor activated; // bn0+swish output = depthwise input (or the block input)
  private Tensor depthwise; // depthwise output (bn1 input)
  private Tensor seInput; // bn1+swish output
  private Tensor pooled;
  private Tensor reduced;
  private Tensor reducedAct;
  private Tensor gateLogits;
  private Tensor gate;
  private Tensor projected; // project output (bn2 input)
  private long seed;
  private boolean training;

  // Eval-mode weights (prepareEval): each BN folded into the convolution before it.
  private EvalConv expandEval;
  private EvalConv depthwiseEval;
  private EvalConv seReduceEval;
  private EvalConv seExpandEval;
  private EvalConv projectEval;

  MBConvBlock(
      ParameterLayout layout, String prefix, int in, int out, int kernel, int stride, int expand,
      float dropConnectRate) {
    int mid = in * expand;
    float eps = BatchNormLayer.ENCODER_EPS;
    float mom = BatchNormLayer.ENCODER_MOMENTUM;
    ParameterLayout.Init convInit = ParameterLayout.Init.NORMAL_FAN_OUT;
    if (expand != 1) {
      expandConv =
          new Conv2dLayer(layout, prefix + "._expand_conv", in, mid, 1, 1, 1, 0, convInit, null);
      bn0 = new BatchNormLayer(layout, prefix + "._bn0", mid, eps, mom, Activation.SWISH);
    } else {
      expandConv = null;
      bn0 = null;
    }
    depthwiseConv =
        new Conv2dLayer(
            layout, prefix + "._depthwise_conv", mid, mid, kernel, stride, mid, -1, convInit, null);
    bn1 = new BatchNormLayer(layout, prefix + "._bn1", mid, eps, mom, Activation.SWISH);
    int squeezed = Math.max(1, (int) (in * BlockArgs.SE_RATIO));
    seReduce =
        new Conv2dLayer(
            layout, prefix + "._se_reduce", mid, squeezed, 1, 1, 1, 0, convInit,
            ParameterLayout.Init.ZEROS);
    seExpand =
        new Conv2dLayer(
            layout, prefix + "._se_expand", squeezed, mid, 1, 1, 1, 0, convInit,
            ParameterLayout.Init.ZEROS);
    projectConv =
        new Conv2dLayer(layout, prefix + "._project_conv", mid, out, 1, 1, 1, 0, convInit, null);
    bn2 = new BatchNormLayer(layout, prefix + "._bn2", out, eps, mom, Activation.NONE);
    skip = stride == 1 && in == out;
    this.dropConnectRate = dropConnectRate;
  }

  void bind(ParameterBlock p) {
    if (expandConv != null) {
      expandConv.bind(p);
      bn0.bind(p);
    }
    depthwiseConv.bind(p);
    bn1.bind(p);
    seReduce.bind(p);
    seExpand.bind(p);
    projectConv.bind(p);
    bn2.bind(p);
  }

  /**
   * The block's output, a new tensor. The caller keeps {@code x} alive until {@link #backward}
   * (training) or may free it on return (eval).
   */
  Tensor forward(Workspace ws, Tensor x, boolean training, long seed) {
    this.training = training;
    this.seed = seed;
    this.input = x;
    Tensor a = x;
    if (expandConv != null) {
      expanded = expandConv.forward(ws, x);
      a = bn0.forward(ws, expanded, training);
      if (!training) {
        ws.give(expanded);
        expanded = null;
      }
    }
    activated = a;
    depthwise = depthwiseConv.forward(ws, a);
    if (!training && a != x) {
      ws.give(a);
      activated = null;
    }
    long n = x.dim(0);
    int mid = bn1.channels;
    pooled = ws.take(n, 1, 1, mid);
    seInput = bn1.forwardPooled(ws, depthwise, training, pooled); // the SE's pooling in bn1's pass
    if (!training) {
      ws.give(depthwise);
      depthwise = null;
    }
    reduced = seReduce.forward(ws, pooled);
    reducedAct = ws.take(reduced.shape());
    Ops.activationForward(ws.ctx(), Activation.SWISH, reduced, reducedAct);
    gateLogits = seExpand.forward(ws, reducedAct);
    gate = ws.take(gateLogits.shape());
    Ops.activationForward(ws.ctx(), Activation.SIGMOID, gateLogits, gate);
    projected = projectConv.forwardGated(ws, seInput, gate);
    Tensor y = bn2.forward(ws, projected, training);
    if (!training) {
      release(ws);
    }
    if (skip) {
      if (training && dropConnectRate > 0f) {
        Tensor dropped = ws.take(y.shape());
        Ops.dropPathForward(ws.ctx(), y, dropped, dropConnectRate, seed, true);
        ws.give(y);
        y = dropped;
      }
      Ops.add(ws.ctx(), y, x, y);
    }
    return y;
  }

  /** The block in eval mode (no drop-connect) in {@code g}. */
  InferenceGraph.Value describe(InferenceGraph g, InferenceGraph.Value x) {
    InferenceGraph.Value a = expandConv != null ? expandConv.describe(g, x, bn0) : x;
    InferenceGraph.Value se = depthwiseConv.describe(g, a, bn1);
    InferenceGraph.Value pooled = g.globalAveragePool(se);
    InferenceGraph.Value reduced = g.activation(seReduce.describe(g, pooled, null), Activation.SWISH);
    InferenceGraph.Value gate = g.activation(seExpand.describe(g, reduced, null), Activation.SIGMOID);
    InferenceGraph.Value y = projectConv.describe(g, g.scaleChannels(se, gate), bn2);
    return skip ? g.add(y, x) : y;
  }

  /** Makes the eval-mode weights from the current parameters (closing earlier ones). */
  void prepareEval(Context ctx) {
    closeEval();
    if (expandConv != null) {
      expandEval = EvalConv.foldBefore(ctx, expandConv, bn0);
    }
    depthwiseEval = EvalConv.foldBefore(ctx, depthwiseConv, bn1);
    seReduceEval = EvalConv.plain(seReduce);
    seExpandEval = EvalConv.plain(seExpand);
    projectEval = EvalConv.foldBefore(ctx, projectConv, bn2);
  }

  void closeEval() {
    for (EvalConv e : new EvalConv[] {expandEval, depthwiseEval, seReduceEval, seExpandEval, projectEval}) {
      if (e != null) {
        e.close();
      }
    }
    expandEval = depthwiseEval = seReduceEval = seExpandEval = projectEval = null;
  }

  /**
   * Eval (after {@link #prepareEval}): the block with its BNs folded into the convolutions and
   * the swishes, the squeeze-excite activations and the residual add done as the convolutions'
   * epilogues, each intermediate freed as soon as it is consumed. The output, a new tensor;
   * {@code x} stays with the caller.
   */
  Tensor forwardEval(Workspace ws, Tensor x) {
    Tensor a = expandConv != null ? expandConv.forward(ws, x, expandEval, Activation.SWISH, null) : x;
    Tensor d = depthwiseConv.forward(ws, a, depthwiseEval, Activation.SWISH, null);
    if (a != x) {
      ws.give(a);
    }
    Tensor pooled = ws.take(x.dim(0), 1, 1, bn1.channels);
    Ops.globalAvgPoolForward(ws.ctx(), d, pooled);
    Tensor reduced = seReduce.forward(ws, pooled, seReduceEval, Activation.SWISH, null);
    ws.give(pooled);
    Tensor gate = seExpand.forward(ws, reduced, seExpandEval, Activation.SIGMOID, null);
    ws.give(reduced);
    Tensor y = projectConv.forwardGated(ws, d, gate, projectEval, Activation.NONE, skip ? x : null);
    ws.give(d, gate);
    return y;
  }

  /**
   * The gradient with respect to the block input (a new tensor) from {@code dy}; writes this
   * block's parameter gradients and frees what forward saved. {@code dy} is left to the caller.
   */
  Tensor backward(Workspace ws, Tensor dy) {
    Tensor dOut = dy;
    if (skip && training && dropConnectRate > 0f) {
      dOut = ws.take(dy.shape());
      Ops.dropPathBackward(ws.ctx(), dy, dOut, dropConnectRate, seed, true);
    }
    Tensor dGate = ws.take(gate.shape());
    Tensor dScaled;
    if (bn2.deferrable()) { // bn2's dx formed by the project conv as it reads it
      // no activation: the deferred gradient is dOut itself, left as it is (dy is the caller's)
      BatchNormLayer.Deferred d2 = bn2.backwardDeferred(projected, dOut, dOut, false);
      dScaled = projectConv.backwardBn(ws, seInput, gate, d2, dGate, true);
    } else {
      Tensor dProjected = bn2.backward(ws, projected, dOut);
      dScaled = projectConv.backwardGated(ws, seInput, gate, dProjected, dGate);
      ws.give(dProjected);
    }
    if (dOut != dy) {
      ws.give(dOut);
    }

    Tensor dGateLogits = ws.take(gate.shape());
    Ops.activationBackward(ws.ctx(), Activation.SIGMOID, gateLogits, dGate, dGateLogits);
    ws.give(dGate);
    Tensor dReducedAct = seExpand.backward(ws, reducedAct, dGateLogits, true);
    ws.give(dGateLogits);
    Tensor dReduced = ws.take(reduced.shape());
    Ops.activationBackward(ws.ctx(), Activation.SWISH, reduced, dReducedAct, dReduced);
    ws.give(dReducedAct);
    Tensor dPooled = seReduce.backward(ws, pooled, dReduced, true);
    ws.give(dReduced);
    // d seInput = dScaled * gate + dPooled / (H*W) (the product's and the pool's), formed by bn1's
    // backward as it reads dScaled
    Tensor dDepthwise =
        bn1.backwardGated(ws, depthwise, dScaled, gate, dPooled, 1f / (seInput.dim(1) * seInput.dim(2)));
    ws.give(dPooled, dScaled);
    Tensor dActivated = depthwiseConv.backward(ws, activated, dDepthwise, true);
    ws.give(dDepthwise);
    Tensor dx;
    if (expandConv != null && bn0.deferrable()) { // bn0's dx formed by the expand conv
      BatchNormLayer.Deferred d0 = bn0.backwardDeferred(expanded, dActivated, dActivated, false);
      dx = expandConv.backwardBn(ws, input, null, d0, null, true);
      ws.give(dActivated);
    } else if (expandConv != null) {
      Tensor dExpanded = bn0.backward(ws, expanded, dActivated);
      ws.give(dActivated);
      dx = expandConv.backward(ws, input, dExpanded, true);
      ws.give(dExpanded);
    } else {
      dx = dActivated;
    }
    if (skip) {
      Ops.axpby(ws.ctx(), 1f, dy, 1f, dx);
    }
    release(ws);
    return dx;
  }

  /** Frees everything forward kept (not the block input, which the caller owns). */
  void release(Workspace ws) {
    if (expandConv != null) {
      ws.give(expanded, activated);
    }
    ws.give(depthwise, seInput, pooled, reduced, reducedAct, gateLogits, gate, projected);
    expanded = activated = depthwise = seInput = pooled = reduced = null;
    reducedAct = gateLogits = gate = projected = null;
    input = null;
  }
}
