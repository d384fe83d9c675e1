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
  private Tensor sum;
  private Tensor sumNormed;
  private Tensor ghost1Out;
  private Tensor ghost2Out;

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
  Tensor forward(Context ctx, Tensor[] f, long n, long h, long w, boolean training, Tensor[] aux) {
    release();
    sum = ctx.tensor(n, h, w, channels);
    for (int i = 0; i < SCALES; i++) {
      features[i] = f[i];
      Tensor c = scaleConv[i].forward(ctx, f[i]);
      scaleRelu[i] = DecoderOps.relu(ctx, c);
      c.close();
      Tensor normed = scaleBn[i].forward(ctx, scaleRelu[i], training);
      if (auxConv != null) {
        upsampled[i] = ctx.tensor(n, h, w, channels);
        Ops.upsampleNearestForward(ctx, normed, upsampled[i], false);
        Ops.add(ctx, sum, upsampled[i], sum);
        auxNormed[i] = auxBn[i].forward(ctx, upsampled[i], training);
        if (aux != null) {
          aux[i] = auxConv[i].forward(ctx, auxNormed[i]);
        }
      } else {
        Ops.upsampleNearestForward(ctx, normed, sum, true);
      }
      normed.close();
    }
    sumNormed = sumBn.forward(ctx, sum, training);
    ghost1Out = ghost1.forward(ctx, sumNormed, training);
    ghost2Out = ghost2.forward(ctx, ghost1Out, training);
    Tensor logits = head.forward(ctx, ghost2Out);
    if (!training) {
      release();
    }
    return logits;
  }

  /**
   * The five feature gradients (new tensors) from dlogits and, with deep supervision, the
   * auxiliary maps' gradients (null entries: no gradient). Writes the decoder's parameter
   * gradients and frees what forward kept.
   */
  Tensor[] backward(Context ctx, Tensor dLogits, Tensor[] dAux) {
    Tensor dG2 = head.backward(ctx, ghost2Out, dLogits, true);
    Tensor dG1 = ghost2.backward(ctx, dG2);
    dG2.close();
    Tensor dSumNormed = ghost1.backward(ctx, dG1);
    dG1.close();
    Tensor dSum = sumBn.backward(ctx, sum, dSumNormed);
    dSumNormed.close();
    Tensor[] dFeatures = new Tensor[SCALES];
    for (int i = 0; i < SCALES; i++) {
      Tensor r = scaleRelu[i];
      Tensor dNormed = ctx.tensor(r.shape());
      if (auxConv == null || dAux == null || dAux[i] == null) {
        Ops.upsampleNearestBackward(ctx, dSum, dNormed);
      }
      if (auxConv != null) {
        if (dAux != null && dAux[i] != null) {
          Tensor dAuxNormed = auxConv[i].backward(ctx, auxNormed[i], dAux[i], true);
          Tensor dUp = auxBn[i].backward(ctx, upsampled[i], dAuxNormed);
          dAuxNormed.close();
          Ops.axpby(ctx, 1f, dSum, 1f, dUp); // the scale feeds both the sum and its aux head
          Ops.upsampleNearestBackward(ctx, dUp, dNormed);
          dUp.close();
        } else {
          // No auxiliary loss: its parameters get zero gradients.
          Tensor zero = ctx.tensor(dLogits.dim(0), dLogits.dim(1), dLogits.dim(2), 1);
          Tensor dAuxNormed = auxConv[i].backward(ctx, auxNormed[i], zero, true);
          zero.close();
          Tensor dUp = auxBn[i].backward(ctx, upsampled[i], dAuxNormed);
          dAuxNormed.close();
          dUp.close();
        }
      }
      Tensor dRelu = scaleBn[i].backward(ctx, r, dNormed);
      dNormed.close();
      Tensor dConv = DecoderOps.reluBackward(ctx, r, dRelu);
      dRelu.close();
      dFeatures[i] = scaleConv[i].backward(ctx, features[i], dConv, true);
      dConv.close();
    }
    dSum.close();
    release();
    return dFeatures;
  }

  /** Frees everything forward kept (the features belong to the encoder). */
  void release() {
    DecoderOps.close(scaleRelu);
    DecoderOps.close(upsampled);
    DecoderOps.close(auxNormed);
    DecoderOps.close(sum, sumNormed, ghost1Out, ghost2Out);
    java.util.Arrays.fill(scaleRelu, null);
    java.util.Arrays.fill(upsampled, null);
    java.util.Arrays.fill(auxNormed, null);
    java.util.Arrays.fill(features, null);
    sum = sumNormed = ghost1Out = ghost2Out = null;
    ghost1.release();
    ghost2.release();
  }
}
