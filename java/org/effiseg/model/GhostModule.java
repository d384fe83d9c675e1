package org.effiseg.model;

import org.effiseg.nativeapi.Activation;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Ops;
import org.effiseg.nativeapi.Tensor;

/**
 * GhostNet's module with ratio 2, as the EffiSegNet reference writes it: primary 1x1 conv (no
 * bias) → ReLU → BN gives ceil(out/2) channels; the cheap operation, a depthwise 3x3 conv (no
 * bias) → ReLU → BN, makes as many again from them; the two are concatenated and the first
 * {@code out} channels kept. Names: {@code primary_conv.0}, {@code primary_conv.2}, {@code
 * cheap_operation.0}, {@code cheap_operation.2} (the reference's nn.Sequential indices).
 */
final class GhostModule {
  private final Conv2dLayer primary;
  private final BatchNormLayer primaryBn;
  private final Conv2dLayer cheap;
  private final BatchNormLayer cheapBn;
  private final int outChannels;
  private final int initChannels;

  private Tensor input;
  private Tensor primaryRelu; // relu(primary conv), the primary BN's input
  private Tensor primaryOut; // x1: the cheap conv's input and the first half of the output
  private Tensor cheapRelu; // relu(cheap conv), the cheap BN's input
  private EvalConv primaryEval; // prepareEval: conv, then ReLU and BN as the epilogue
  private EvalConv cheapEval;

  GhostModule(ParameterLayout layout, String prefix, int in, int out) {
    outChannels = out;
    initChannels = (out + 1) / 2;
    ParameterLayout.Init init = ParameterLayout.Init.UNIFORM_FAN_IN;
    float eps = BatchNormLayer.DEFAULT_EPS;
    float mom = BatchNormLayer.DEFAULT_MOMENTUM;
    primary =
        new Conv2dLayer(layout, prefix + ".primary_conv.0", in, initChannels, 1, 1, 1, 0, init, null);
    primaryBn =
        new BatchNormLayer(layout, prefix + ".primary_conv.2", initChannels, eps, mom, Activation.NONE);
    cheap =
        new Conv2dLayer(
            layout, prefix + ".cheap_operation.0", initChannels, initChannels, 3, 1, initChannels, 1,
            init, null);
    cheapBn =
        new BatchNormLayer(
            layout, prefix + ".cheap_operation.2", initChannels, eps, mom, Activation.NONE);
  }

  void bind(ParameterBlock p) {
    primary.bind(p);
    primaryBn.bind(p);
    cheap.bind(p);
    cheapBn.bind(p);
  }

  /** A new [N,H,W,out] tensor; {@code x} stays with the caller (alive until backward). */
  Tensor forward(Workspace ws, Tensor x, boolean training) {
    input = x;
    primaryRelu = primary.forward(ws, x, Activation.RELU);
    primaryOut = primaryBn.forward(ws, primaryRelu, training);
    cheapRelu = cheap.forward(ws, primaryOut, Activation.RELU);
    Tensor cheapOut = cheapBn.forward(ws, cheapRelu, training);
    Tensor y = ws.take(x.dim(0), x.dim(1), x.dim(2), outChannels);
    Ops.channelCopy(ws.ctx(), primaryOut, 0, y, 0, initChannels, false);
    Ops.channelCopy(ws.ctx(), cheapOut, 0, y, initChannels, outChannels - initChannels, false);
    ws.give(cheapOut);
    if (!training) {
      release(ws);
    }
    return y;
  }

  /** The module in eval mode in {@code g}. */
  InferenceGraph.Value describe(InferenceGraph g, InferenceGraph.Value x) {
    InferenceGraph.Value x1 = primaryBn.describe(g, g.activation(primary.describe(g, x, null), Activation.RELU));
    InferenceGraph.Value x2 = cheapBn.describe(g, g.activation(cheap.describe(g, x1, null), Activation.RELU));
    return g.concatChannels(x1, x2, outChannels);
  }

  void prepareEval(Context ctx) {
    closeEval();
    primaryEval = EvalConv.affineAfter(ctx, primary, primaryBn);
    cheapEval = EvalConv.affineAfter(ctx, cheap, cheapBn);
  }

  void closeEval() {
    if (primaryEval != null) {
      primaryEval.close();
      cheapEval.close();
      primaryEval = cheapEval = null;
    }
  }

  /** Eval (after {@link #prepareEval}): each conv → ReLU → BN in one pass; a new tensor. */
  Tensor forwardEval(Workspace ws, Tensor x) {
    Tensor p = primary.forward(ws, x, primaryEval, Activation.RELU, null);
    Tensor c = cheap.forward(ws, p, cheapEval, Activation.RELU, null);
    Tensor y = ws.take(x.dim(0), x.dim(1), x.dim(2), outChannels);
    Ops.channelCopy(ws.ctx(), p, 0, y, 0, initChannels, false);
    Ops.channelCopy(ws.ctx(), c, 0, y, initChannels, outChannels - initChannels, false);
    ws.give(p, c);
    return y;
  }

  /** dx (a new tensor) from dy; writes the module's gradients and frees what forward kept. */
  Tensor backward(Workspace ws, Tensor dy) {
    long n = dy.dim(0), h = dy.dim(1), w = dy.dim(2);
    Tensor dPrimaryOut = ws.take(n, h, w, initChannels);
    Ops.channelCopy(ws.ctx(), dy, 0, dPrimaryOut, 0, initChannels, false);
    // Zeros where the cheap half is wider than the part of it that was kept (odd channels).
    Tensor dCheapOut =
        outChannels - initChannels < initChannels
            ? ws.zeros(n, h, w, initChannels)
            : ws.take(n, h, w, initChannels);
    Ops.channelCopy(ws.ctx(), dy, initChannels, dCheapOut, 0, outChannels - initChannels, false);

    Tensor dCheapRelu = cheapBn.backward(ws, cheapRelu, dCheapOut);
    ws.give(dCheapOut);
    Tensor dCheapConv = DecoderOps.reluBackward(ws, cheapRelu, dCheapRelu);
    ws.give(dCheapRelu);
    Tensor dFromCheap = cheap.backward(ws, primaryOut, dCheapConv, true);
    ws.give(dCheapConv);
    Ops.axpby(ws.ctx(), 1f, dFromCheap, 1f, dPrimaryOut);
    ws.give(dFromCheap);

    Tensor dPrimaryRelu = primaryBn.backward(ws, primaryRelu, dPrimaryOut);
    ws.give(dPrimaryOut);
    Tensor dPrimaryConv = DecoderOps.reluBackward(ws, primaryRelu, dPrimaryRelu);
    ws.give(dPrimaryRelu);
    Tensor dx = primary.backward(ws, input, dPrimaryConv, true);
    ws.give(dPrimaryConv);
    release(ws);
    return dx;
  }

  void release(Workspace ws) {
    ws.give(primaryRelu, primaryOut, cheapRelu);
    primaryRelu = primaryOut = cheapRelu = null;
    input = null;
  }
}
