package org.effiseg.model;

import org.effiseg.nativeapi.Activation;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Ops;
import org.effiseg.nativeapi.Tensor;

/**
 * EffiSegNet's decoder as in the authors' reference (models/effisegnet.py, EffiSegNetBN): each
 * feature → 3x3 conv (no bias) to {@code ch} → ReLU → BN ({@code conv1..5}, {@code bn1..5}) →
 * nearest upsampling to the input size; the five are summed → BN ({@code bn6}) → two Ghost
 * modules ({@code ghost1}, {@code ghost2}) → 1x1 conv to one logit map ({@code conv6}, no bias).
 *
 * <p>With deep supervision, each upsampled scale also goes through BN ({@code bn7..11}) and a
 * 1x1 conv to one map ({@code conv7..11}, no bias): five auxiliary logit maps.
 *
 * <p>Without it, when the finest scale is half the input size and each coarser one half the
 * next ({@link #halvingChain}: every input size divisible by 32), the sum is nearest-upsampled
 * from the finest scale's size, and batch norm, the first Ghost module's primary 1x1 conv, its
 * ReLU and batch norm all commute with that upsampling: they run at the finest scale's size, on
 * a quarter of the pixels, and only the primary branch's output is upsampled ({@link
 * GhostModule#forwardUpsampled}). The same function, computed with less work.
 */
final class EffiSegDecoder {
  static final int SCALES = 5;

  private final Conv2dLayer[] scaleConv = new Conv2dLayer[SCALES];
  private final BatchNormLayer[] scaleBn = new BatchNormLayer[SCALES];
  private final Conv2dLayer[] auxConv;
  private final BatchNormLayer[] auxBn;
  private final BatchNormLayer sumBn;
  private final GhostModule ghost1;
  private final GhostModule ghost2;
  private final Conv2dLayer head;
  private final int channels;

  private final Tensor[] features = new Tensor[SCALES];
  private final Tensor[] scaleRelu = new Tensor[SCALES]; // relu(conv_i(f_i)), bn_i's input
  private final Tensor[] upsampled = new Tensor[SCALES]; // deep supervision: bn(7+i)'s input
  private final Tensor[] auxNormed = new Tensor[SCALES]; // deep supervision: conv(7+i)'s input
  private final EvalConv[] scaleEval = new EvalConv[SCALES]; // prepareEval: conv → ReLU → BN fused
  private Tensor sum; // at the finest scale's size when halfSum
  private Tensor sumNormed;
  private boolean halfSum; // forward: the sum, bn6 and ghost1's primary branch at half size
  private ChannelBlocks ghost1Out; // owned by ghost1
  private ChannelBlocks ghost2Out; // owned by ghost2

  EffiSegDecoder(ParameterLayout layout, int[] featureChannels, int ch, boolean deepSupervision) {
    channels = ch;
    ParameterLayout.Init init = ParameterLayout.Init.UNIFORM_FAN_IN;
    float eps = BatchNormLayer.DEFAULT_EPS;
    float mom = BatchNormLayer.DEFAULT_MOMENTUM;
    for (int i = 0; i < SCALES; i++) {
      scaleConv[i] =
          new Conv2dLayer(layout, "conv" + (i + 1), featureChannels[i], ch, 3, 1, 1, 1, init, null);
      scaleBn[i] = new BatchNormLayer(layout, "bn" + (i + 1), ch, eps, mom, Activation.NONE);
    }
    if (deepSupervision) {
      auxConv = new Conv2dLayer[SCALES];
      auxBn = new BatchNormLayer[SCALES];
      for (int i = 0; i < SCALES; i++) {
        auxConv[i] = new Conv2dLayer(layout, "conv" + (i + 7), ch, 1, 1, 1, 1, 0, init, null);
        auxBn[i] = new BatchNormLayer(layout, "bn" + (i + 7), ch, eps, mom, Activation.NONE);
      }
    } else {
      auxConv = null;
      auxBn = null;
    }
    sumBn = new BatchNormLayer(layout, "bn6", ch, eps, mom, Activation.NONE);
    ghost1 = new GhostModule(layout, "ghost1", ch, ch);
    ghost2 = new GhostModule(layout, "ghost2", ch, ch);
    head = new Conv2dLayer(layout, "conv6", ch, 1, 1, 1, 1, 0, init, null);
  }

  boolean deepSupervision() {
    return auxConv != null;
  }

  void bind(ParameterBlock p) {
    for (int i = 0; i < SCALES; i++) {
      scaleConv[i].bind(p);
      scaleBn[i].bind(p);
      if (auxConv != null) {
        auxConv[i].bind(p);
        auxBn[i].bind(p);
      }
    }
    sumBn.bind(p);
    ghost1.bind(p);
    ghost2.bind(p);
    head.bind(p);
  }

  /**
   * Logits [N,H,W,1] (a new tensor) from the five features; {@code aux}, when deep supervision is
   * on and it is non-null, receives the five auxiliary logit maps (new tensors).
   */
  Tensor forward(Workspace ws, Tensor[] f, long n, long h, long w, boolean training, Tensor[] aux) {
    release(ws);
    Tensor[] normed = new Tensor[SCALES];
    for (int i = 0; i < SCALES; i++) {
      features[i] = f[i];
      scaleRelu[i] = scaleConv[i].forward(ws, f[i], Activation.RELU);
      normed[i] = scaleBn[i].forward(ws, scaleRelu[i], training);
    }
    halfSum = auxConv == null && halvingChain(normed, h, w);
    if (halfSum) {
      sum = chainSum(ws, normed);
    } else if (auxConv == null) {
      sum = upsampledSum(ws, normed, n, h, w);
    } else {
      // Deep supervision needs each upsampled scale on its own (its aux BN's input).
      sum = ws.zeros(n, h, w, channels);
      for (int i = 0; i < SCALES; i++) {
        upsampled[i] = ws.take(n, h, w, channels);
        Ops.upsampleNearestForward(ws.ctx(), normed[i], upsampled[i], false);
        ws.give(normed[i]);
        Ops.add(ws.ctx(), sum, upsampled[i], sum);
        auxNormed[i] = auxBn[i].forward(ws, upsampled[i], training);
        if (aux != null) {
          aux[i] = auxConv[i].forward(ws, auxNormed[i]);
        }
      }
    }
    if (halfSum) {
      sumNormed = sumBn.forward(ws, sum, training, 4);
      ghost1Out = ghost1.forwardUpsampled(ws, sumNormed, training);
    } else {
      sumNormed = sumBn.forward(ws, sum, training);
      ghost1Out = ghost1.forward(ws, ChannelBlocks.of(sumNormed), training);
    }
    ghost2Out = ghost2.forward(ws, ghost1Out, training);
    Tensor logits = head.forward(ws, ghost2Out, Activation.NONE);
    if (!training) {
      release(ws);
    }
    return logits;
  }

  void prepareEval(Context ctx) {
    closeEval();
    for (int i = 0; i < SCALES; i++) {
      scaleEval[i] = EvalConv.affineAfter(ctx, scaleConv[i], scaleBn[i]);
    }
    ghost1.prepareEval(ctx);
    ghost2.prepareEval(ctx);
  }

  void closeEval() {
    for (int i = 0; i < SCALES; i++) {
      if (scaleEval[i] != null) {
        scaleEval[i].close();
        scaleEval[i] = null;
      }
    }
    ghost1.closeEval();
    ghost2.closeEval();
  }

  /**
   * Eval (after {@link #prepareEval}) without deep supervision, first part: each scale's conv →
   * ReLU → BN in one pass; the five results (new tensors) for {@link #forwardEval}, after which
   * the features may be freed. (With deep supervision the eval pass is {@link #forward}'s.)
   */
  Tensor[] scalesEval(Workspace ws, Tensor[] f) {
    release(ws);
    Tensor[] normed = new Tensor[SCALES];
    for (int i = 0; i < SCALES; i++) {
      normed[i] = scaleConv[i].forward(ws, f[i], scaleEval[i], Activation.RELU, null);
    }
    return normed;
  }

  /**
   * Eval, second part: the logits (a new tensor) from {@link #scalesEval}'s results, which it
   * frees; every intermediate is freed once consumed.
   */
  Tensor forwardEval(Workspace ws, Tensor[] normed, long n, long h, long w) {
    boolean half = halvingChain(normed, h, w);
    Tensor summed = half ? chainSum(ws, normed) : upsampledSum(ws, normed, n, h, w);
    Tensor normedSum = sumBn.forward(ws, summed, false);
    ws.give(summed);
    Tensor g1;
    if (half) {
      g1 = ghost1.forwardEvalUpsampled(ws, normedSum); // frees normedSum
    } else {
      g1 = ghost1.forwardEval(ws, normedSum);
      ws.give(normedSum);
    }
    Tensor g2 = ghost2.forwardEval(ws, g1);
    ws.give(g1);
    Tensor logits = head.forward(ws, g2);
    ws.give(g2);
    return logits;
  }

  /**
   * Whether every scale is exactly twice as large as the next coarser one and the finest half
   * of h x w: then nearest upsampling to h x w is a chain of 2x steps, and so is its adjoint.
   * (True at every input size that is a multiple of 32; B4's 380 gives 95 and 48, which is not.)
   */
  private static boolean halvingChain(Tensor[] scales, long h, long w) {
    long nh = h;
    long nw = w;
    for (Tensor t : scales) {
      if (t.dim(1) * 2 != nh || t.dim(2) * 2 != nw) {
        return false;
      }
      nh = t.dim(1);
      nw = t.dim(2);
    }
    return true;
  }

  /**
   * The sum of the scales, each upsampled (nearest) to h x w: a new tensor; frees the scales.
   * (Not for a {@link #halvingChain}, whose sum is {@link #chainSum}'s upsampled.)
   */
  private Tensor upsampledSum(Workspace ws, Tensor[] scales, long n, long h, long w) {
    Tensor out = ws.take(n, h, w, channels);
    for (int i = 0; i < SCALES; i++) {
      Ops.upsampleNearestForward(ws.ctx(), scales[i], out, i > 0);
      ws.give(scales[i]);
    }
    return out;
  }

  /**
   * On a {@link #halvingChain}: the sum of the scales, each upsampled (nearest) to the finest
   * one's size, from the coarsest up, acc = scale_i + up2(acc); the finest scale's tensor holds
   * it (returned), the others are freed. Its 2x upsampling is the sum at the input size.
   */
  private static Tensor chainSum(Workspace ws, Tensor[] scales) {
    Tensor acc = scales[SCALES - 1];
    for (int i = SCALES - 2; i >= 0; i--) {
      Ops.upsampleNearestForward(ws.ctx(), acc, scales[i], true);
      ws.give(acc);
      acc = scales[i];
    }
    return acc;
  }

  /**
   * The decoder in eval mode in {@code g}: logits [1, h, w] from the five features. The
   * deep-supervision heads, which only training uses, are left out.
   */
  InferenceGraph.Value describe(InferenceGraph g, InferenceGraph.Value[] f, int h, int w) {
    InferenceGraph.Value sum = null;
    for (int i = 0; i < SCALES; i++) {
      InferenceGraph.Value relu = g.activation(scaleConv[i].describe(g, f[i], null), Activation.RELU);
      InferenceGraph.Value up = g.upsampleNearest(scaleBn[i].describe(g, relu), h, w);
      sum = sum == null ? up : g.add(sum, up);
    }
    InferenceGraph.Value x = ghost2.describe(g, ghost1.describe(g, sumBn.describe(g, sum)));
    return head.describe(g, x, null);
  }

  /**
   * The five feature gradients (new tensors) from dlogits and, with deep supervision, the
   * auxiliary maps' gradients (null entries: no gradient). Writes the decoder's parameter
   * gradients and frees what forward kept.
   */
  Tensor[] backward(Workspace ws, Tensor dLogits, Tensor[] dAux) {
    ChannelBlocks dG2 = head.backward(ws, ghost2Out, dLogits, true);
    ChannelBlocks dG1 = ghost2.backward(ws, dG2);
    Tensor dSumNormed = ghost1.backward(ws, dG1).first();
    Tensor dSum = sumBn.backward(ws, sum, dSumNormed);
    ws.give(dSumNormed);
    Tensor[] dFeatures = new Tensor[SCALES];
    // Without deep supervision each scale's gradient is dSum summed over its pixel's block. On a
    // halving chain (halfSum) dSum is the finest scale's gradient, and the next coarser scale's
    // is this one's summed over 2x2 blocks.
    Tensor dCoarser = halfSum ? dSum : null; // on the chain: the next scale's, made one ahead
    if (halfSum) {
      dSum = null; // handed on as the finest scale's gradient, freed in the loop
    }
    for (int i = 0; i < SCALES; i++) {
      Tensor r = scaleRelu[i];
      Tensor dNormed;
      if (halfSum) {
        dNormed = dCoarser;
        dCoarser = null;
        if (i + 1 < SCALES) {
          dCoarser = ws.take(scaleRelu[i + 1].shape());
          Ops.upsampleNearestBackward(ws.ctx(), dNormed, dCoarser);
        }
      } else {
        dNormed = ws.take(r.shape());
        if (auxConv == null || dAux == null || dAux[i] == null) {
          Ops.upsampleNearestBackward(ws.ctx(), dSum, dNormed);
        }
      }
      if (auxConv != null) {
        if (dAux != null && dAux[i] != null) {
          Tensor dAuxNormed = auxConv[i].backward(ws, auxNormed[i], dAux[i], true);
          Tensor dUp = auxBn[i].backward(ws, upsampled[i], dAuxNormed);
          ws.give(dAuxNormed);
          Ops.axpby(ws.ctx(), 1f, dSum, 1f, dUp); // the scale feeds both the sum and its aux head
          Ops.upsampleNearestBackward(ws.ctx(), dUp, dNormed);
          ws.give(dUp);
        } else {
          // No auxiliary loss: its parameters get zero gradients.
          Tensor zero = ws.zeros(dLogits.dim(0), dLogits.dim(1), dLogits.dim(2), 1);
          Tensor dAuxNormed = auxConv[i].backward(ws, auxNormed[i], zero, true);
          ws.give(zero);
          Tensor dUp = auxBn[i].backward(ws, upsampled[i], dAuxNormed);
          ws.give(dAuxNormed);
          ws.give(dUp);
        }
      }
      Tensor dConv = scaleBn[i].backwardAfterRelu(ws, r, dNormed);
      ws.give(dNormed);
      dFeatures[i] = scaleConv[i].backward(ws, features[i], dConv, true);
      ws.give(dConv);
    }
    ws.give(dSum); // null on the chain: given in the loop as the finest scale's gradient
    release(ws);
    return dFeatures;
  }

  /** Frees everything forward kept (the features belong to the encoder). */
  void release(Workspace ws) {
    ws.give(scaleRelu);
    ws.give(upsampled);
    ws.give(auxNormed);
    ws.give(sum, sumNormed);
    java.util.Arrays.fill(scaleRelu, null);
    java.util.Arrays.fill(upsampled, null);
    java.util.Arrays.fill(auxNormed, null);
    java.util.Arrays.fill(features, null);
    sum = sumNormed = null;
    halfSum = false;
    ghost1Out = ghost2Out = null;
    ghost1.release(ws);
    ghost2.release(ws);
  }
}
