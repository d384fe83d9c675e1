package org.effiseg.train;

/** The loss of one batch: total = w_dice·dice + w_bce·bce + w_npd·npd, with each term unweighted. */
public record LossTerms(double total, double dice, double bce, double npd) {
  public static final LossTerms ZERO = new LossTerms(0, 0, 0, 0);

  public boolean isFinite() {
    return Double.isFinite(total) && Double.isFinite(dice) && Double.isFinite(bce) && Double.isFinite(npd);
  }

  public LossTerms plus(LossTerms o) {
    return new LossTerms(total + o.total, dice + o.dice, bce + o.bce, npd + o.npd);
  }

  public LossTerms times(double s) {
    return new LossTerms(total * s, dice * s, bce * s, npd * s);
  }
}
