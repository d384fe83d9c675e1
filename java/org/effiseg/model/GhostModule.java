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
 *
 * <p>On a 2x nearest upsampling of a tensor ({@link #forwardUpsampled}) the primary branch,
 * pointwise conv, ReLU and batch norm, commutes with the upsampling: it runs on the tensor before
 * it, on a quarter of the pixels, and only its output is upsampled.
 */
final class GhostModule {
  private final Conv2dLayer primary;
  private final BatchNormLayer primaryBn;
  private final Conv2dLayer cheap;
  private final BatchNormLayer cheapBn;
  private final int outChannels;
  private final int initChannels;

  private ChannelBlocks input;
  private boolean upsampledInput; // forwardUpsampled: input and primaryRelu at half resolution
  private Tensor primaryRelu; // relu(primary conv), the primary BN's input
  private Tensor primaryOut; // x1: the cheap conv's input and the first half of the output
  private Tensor cheapRelu; // relu(cheap conv), the cheap BN's input
  private Tensor cheapOut; // x2: the second half of the output (even out)
  private Tensor concat; // [x1 | x2 without its last channel] (odd out)
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

  /**
   * The output: with an even channel count its two halves x1 and x2 as {@link ChannelBlocks}
   * (never written side by side: the next module's primary conv and the decoder's head are
   * pointwise and read the halves as they are); with an odd one the concatenation, one block.
   * The module keeps them until {@link #release}; {@code x} stays with the caller and must stay
   * alive until backward.
   */
  ChannelBlocks forward(Workspace ws, ChannelBlocks x, boolean training) {
    release(ws);
    input = x;
    upsampledInput = false;
    primaryRelu = primary.forward(ws, x, Activation.RELU);
    primaryOut = primaryBn.forward(ws, primaryRelu, training);
    return cheapBranch(ws, training);
  }

  /**
   * {@link #forward} of up2(x), x's nearest upsampling by 2 in height and width, without making
   * it: the primary conv (1x1, no bias), its ReLU and batch norm (whose statistics are x's: each
   * pixel repeated 4 times changes neither mean nor variance, only the running variance's
   * unbiased count, which it is told) run on x, and their output is upsampled. The output and
   * {@link #backward} are as {@link #forward}'s would be for up2(x); {@code x} must stay alive
   * until backward.
   */
  ChannelBlocks forwardUpsampled(Workspace ws, Tensor x, boolean training) {
    release(ws);
    input = ChannelBlocks.of(x);
    upsampledInput = true;
    primaryRelu = primary.forward(ws, input, Activation.RELU);
    Tensor primaryHalf = primaryBn.forward(ws, primaryRelu, training, 4);
    primaryOut = ws.take(x.dim(0), 2 * x.dim(1), 2 * x.dim(2), initChannels);
    Ops.upsampleNearestForward(ws.ctx(), primaryHalf, primaryOut, false);
    ws.give(primaryHalf);
    return cheapBranch(ws, training);
  }

  /** The cheap branch on primaryOut and the module's output (forward's second half). */
  private ChannelBlocks cheapBranch(Workspace ws, boolean training) {
    cheapRelu = cheap.forward(ws, primaryOut, Activation.RELU);
    cheapOut = cheapBn.forward(ws, cheapRelu, training);
    if (outChannels == 2 * initChannels) {
      return new ChannelBlocks(primaryOut, cheapOut);
    }
    concat = ws.take(primaryOut.dim(0), primaryOut.dim(1), primaryOut.dim(2), outChannels);
    Ops.channelCopy(ws.ctx(), primaryOut, 0, concat, 0, initChannels, false);
    Ops.channelCopy(ws.ctx(), cheapOut, 0, concat, initChannels, outChannels - initChannels, false);
    ws.give(cheapOut);
    cheapOut = null;
    return ChannelBlocks.of(concat);
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
    return evalCheapBranch(ws, primary.forward(ws, x, primaryEval, Activation.RELU, null));
  }

  /**
   * {@link #forwardEval} of up2(x), the primary branch on x (see {@link #forwardUpsampled}); frees
   * x as soon as it is read.
   */
  Tensor forwardEvalUpsampled(Workspace ws, Tensor x) {
    Tensor half = primary.forward(ws, x, primaryEval, Activation.RELU, null);
    ws.give(x);
    Tensor p = ws.take(half.dim(0), 2 * half.dim(1), 2 * half.dim(2), initChannels);
    Ops.upsampleNearestForward(ws.ctx(), half, p, false);
    ws.give(half);
    return evalCheapBranch(ws, p);
  }

  /** The cheap branch on the primary output p (freed) and the concatenated output. */
  private Tensor evalCheapBranch(Workspace ws, Tensor p) {
    Tensor c = cheap.forward(ws, p, cheapEval, Activation.RELU, null);
    Tensor y = ws.take(p.dim(0), p.dim(1), p.dim(2), outChannels);
    Ops.channelCopy(ws.ctx(), p, 0, y, 0, initChannels, false);
    Ops.channelCopy(ws.ctx(), c, 0, y, initChannels, outChannels - initChannels, false);
    ws.give(p, c);
    return y;
  }

  /**
   * dx (new tensors, blocked as the input was) from dy (blocked as {@link #forward}'s output was;
   * the module frees dy's tensors); writes the module's gradients and frees what forward kept.
   */
  ChannelBlocks backward(Workspace ws, ChannelBlocks dy) {
    Tensor dPrimaryOut;
    Tensor dCheapOut;
    if (dy.split()) {
      dPrimaryOut = dy.first();
      dCheapOut = dy.second();
    } else {
      Tensor d = dy.first();
      long n = d.dim(0), h = d.dim(1), w = d.dim(2);
      dPrimaryOut = ws.take(n, h, w, initChannels);
      Ops.channelCopy(ws.ctx(), d, 0, dPrimaryOut, 0, initChannels, false);
      // Zeros where the cheap half is wider than the part of it that was kept (odd channels).
      dCheapOut = ws.zeros(n, h, w, initChannels);
      Ops.channelCopy(ws.ctx(), d, initChannels, dCheapOut, 0, outChannels - initChannels, false);
      ws.give(d);
    }

    Tensor dCheapConv = cheapBn.backwardAfterRelu(ws, cheapRelu, dCheapOut);
    ws.give(dCheapOut);
    Tensor dFromCheap = cheap.backward(ws, primaryOut, dCheapConv, true);
    ws.give(dCheapConv);
    Ops.axpby(ws.ctx(), 1f, dFromCheap, 1f, dPrimaryOut);
    ws.give(dFromCheap);

    if (upsampledInput) { // the primary branch ran before the upsampling: its adjoint first
      Tensor dHalf = ws.take(primaryRelu.dim(0), primaryRelu.dim(1), primaryRelu.dim(2), initChannels);
      Ops.upsampleNearestBackward(ws.ctx(), dPrimaryOut, dHalf);
      ws.give(dPrimaryOut);
      dPrimaryOut = dHalf;
    }
    ChannelBlocks dx;
    if (primaryBn.deferrable()) { // the batch norm's dx formed by the primary conv (each input block's)
      BatchNormLayer.Deferred d = primaryBn.backwardDeferred(primaryRelu, dPrimaryOut, dPrimaryOut, true);
      dx = primary.backwardBn(ws, input, d, true);
      ws.give(dPrimaryOut);
    } else {
      Tensor dPrimaryConv = primaryBn.backwardAfterRelu(ws, primaryRelu, dPrimaryOut);
      ws.give(dPrimaryOut);
      dx = primary.backward(ws, input, dPrimaryConv, true);
      ws.give(dPrimaryConv);
    }
    release(ws);
    return dx;
  }

  /** Frees what forward kept, its output included. */
  void release(Workspace ws) {
    ws.give(primaryRelu, primaryOut, cheapRelu, cheapOut, concat);
    primaryRelu = primaryOut = cheapRelu = cheapOut = concat = null;
    input = null;
    upsampledInput = false;
  }
}
