package org.effiseg.train;

import org.effiseg.model.EffiSegNet;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Ops;
import org.effiseg.nativeapi.Tensor;

/**
 * The configured loss (w_dice·Dice + w_bce·BCE + w_npd·near-pixel-diff, one fused native op per
 * output) and its backward pass into the model. With deep supervision the loss is the mean over
 * the main output and the five auxiliary heads, as in the reference code.
 */
final class LossFunction {
  private final float dice;
  private final float bce;
  private final float npd;
  private final int npdDistance;

  LossFunction(TrainConfig config) {
    this.dice = (float) config.diceWeight;
    this.bce = (float) config.bceWeight;
    this.npd = (float) config.npdWeight;
    this.npdDistance = config.npdDistance;
  }

  /** The loss of {@code logits} without gradients (validation). */
  LossTerms value(Context ctx, Tensor logits, Tensor masks, Tensor terms) {
    Ops.segLoss(ctx, logits, masks, terms, null, dice, bce, npd, npdDistance);
    return read(terms);
  }

  /** Loss of the last training forward pass, then the model's backward pass. */
  LossTerms forwardBackward(Context ctx, EffiSegNet model, Tensor logits, Tensor masks, Tensor terms) {
    Tensor[] aux = model.auxLogits();
    if (aux == null) {
      try (Tensor dlogits = ctx.tensor(logits.shape())) {
        Ops.segLoss(ctx, logits, masks, terms, dlogits, dice, bce, npd, npdDistance);
        LossTerms t = read(terms);
        model.backward(dlogits);
        return t;
      }
    }
    float share = 1f / (aux.length + 1);
    Tensor[] dAux = new Tensor[aux.length];
    try (Tensor dlogits = ctx.tensor(logits.shape())) {
      Ops.segLoss(ctx, logits, masks, terms, dlogits, share * dice, share * bce, share * npd, npdDistance);
      LossTerms sum = read(terms).times(share);
      for (int i = 0; i < aux.length; i++) {
        dAux[i] = ctx.tensor(aux[i].shape());
        Ops.segLoss(ctx, aux[i], masks, terms, dAux[i], share * dice, share * bce, share * npd, npdDistance);
        sum = sum.plus(read(terms).times(share));
      }
      model.backward(dlogits, dAux);
      // total was computed with shared weights; the terms above are unweighted means
      return new LossTerms(
          dice * sum.dice() + bce * sum.bce() + npd * sum.npd(), sum.dice(), sum.bce(), sum.npd());
    } finally {
      for (Tensor t : dAux) {
        if (t != null) {
          t.close();
        }
      }
      model.closeAuxLogits();
    }
  }

  private static LossTerms read(Tensor terms) {
    float[] v = terms.read();
    return new LossTerms(v[0], v[1], v[2], v[3]);
  }
}
