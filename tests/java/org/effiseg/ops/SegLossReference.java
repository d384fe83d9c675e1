package org.effiseg.ops;

import ai.djl.ndarray.NDArray;

/**
 * The segmentation loss of es_seg_loss written two more ways: in double precision from its
 * definition (the test oracle for values and, by finite differences, gradients), and composed
 * from PyTorch ops through DJL the way a PyTorch training script computes it (MONAI DiceLoss,
 * BCE-with-logits, the near-pixel-diff term), for parity and for LossBench.
 */
public final class SegLossReference {
  private SegLossReference() {}

  /** MONAI's smooth_nr = smooth_dr. */
  static final double SMOOTH = 1e-5;

  /**
   * {total, dice, bce, npd} in double for logits and target [N,H,W] (row-major). A
   * near-pixel-diff term with no elements (H or W not larger than d) counts as 0.
   */
  public static double[] terms(
      double[] x, float[] t, int n, int h, int w, double wDice, double wBce, double wNpd, int d) {
    double dice = 0, bce = 0;
    int hw = h * w;
    for (int b = 0; b < n; b++) {
      double inter = 0, sumP = 0, sumT = 0;
      for (int i = b * hw; i < (b + 1) * hw; i++) {
        double p = 1 / (1 + Math.exp(-x[i]));
        inter += p * t[i];
        sumP += p;
        sumT += t[i];
        bce += Math.max(x[i], 0) - x[i] * t[i] + Math.log1p(Math.exp(-Math.abs(x[i])));
      }
      dice += 1 - (2 * inter + SMOOTH) / (sumP + sumT + SMOOTH);
    }
    dice /= n;
    bce /= (double) n * hw;
    // {dh, dw} of each difference term: x[h+dh, w+dw] - x[h, w] over all valid (h, w)
    int[][] offsets = {{0, d}, {d, 0}, {d, d}, {d, -d}};
    double npd = 0;
    for (int[] o : offsets) {
      double sum = 0;
      long count = 0;
      for (int b = 0; b < n; b++) {
        for (int i = 0; i < h; i++) {
          for (int j = 0; j < w; j++) {
            int i2 = i + o[0], j2 = j + o[1];
            if (i2 < h && j2 >= 0 && j2 < w) {
              double diff = x[(b * h + i2) * w + j2] - x[(b * h + i) * w + j];
              sum += diff * diff;
              count++;
            }
          }
        }
      }
      if (count > 0) {
        npd += sum / count;
      }
    }
    npd *= n;
    return new double[] {wDice * dice + wBce * bce + wNpd * npd, dice, bce, npd};
  }

  /** d total / d x by central differences on {@link #terms} in double (truncation ~h²). */
  public static double[] gradient(
      float[] x, float[] t, int n, int h, int w, double wDice, double wBce, double wNpd, int d) {
    double[] xd = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      xd[i] = x[i];
    }
    double step = 1e-4;
    double[] g = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      double saved = xd[i];
      xd[i] = saved + step;
      double plus = terms(xd, t, n, h, w, wDice, wBce, wNpd, d)[0];
      xd[i] = saved - step;
      double minus = terms(xd, t, n, h, w, wDice, wBce, wNpd, d)[0];
      xd[i] = saved;
      g[i] = (plus - minus) / (2 * step);
    }
    return g;
  }

  public static double[] terms(
      float[] x, float[] t, int n, int h, int w, double wDice, double wBce, double wNpd, int d) {
    double[] xd = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      xd[i] = x[i];
    }
    return terms(xd, t, n, h, w, wDice, wBce, wNpd, d);
  }

  /**
   * The loss composed from PyTorch ops on logits x and target t of shape [N,1,H,W] (NCHW; the
   * same memory as effiseg's [N,H,W,1]): returns {total, dice, bce, npd} as scalar arrays.
   * Gradients flow when x requires them and a gradient collector is recording.
   */
  public static NDArray[] torch(NDArray x, NDArray t, float wDice, float wBce, float wNpd, int d) {
    long n = x.getShape().get(0);
    int[] spatial = {1, 2, 3};
    // MONAI DiceLoss(sigmoid=True, batch=False): per sample and channel, then the mean
    NDArray p = x.getNDArrayInternal().sigmoid();
    NDArray inter = p.mul(t).sum(spatial);
    NDArray denom = p.sum(spatial).add(t.sum(spatial));
    NDArray dice = inter.mul(2).add(SMOOTH).div(denom.add(SMOOTH)).neg().add(1).mean();
    // BCEWithLogitsLoss: max(x,0) - x*t + log(1 + exp(-|x|)), mean
    NDArray bce = x.maximum(0).sub(x.mul(t)).add(x.abs().neg().exp().add(1).log()).mean();
    // near-pixel-diff, exactly the study's slicing
    String a = d + ":", b = ":-" + d;
    NDArray npd =
        sq(x.get(":, :, :, " + a).sub(x.get(":, :, :, " + b)))
            .add(sq(x.get(":, :, " + a + ", :").sub(x.get(":, :, " + b + ", :"))))
            .add(sq(x.get(":, :, " + a + ", " + a).sub(x.get(":, :, " + b + ", " + b))))
            .add(sq(x.get(":, :, " + a + ", " + b).sub(x.get(":, :, " + b + ", " + a))))
            .mul(n);
    NDArray total = dice.mul(wDice).add(bce.mul(wBce)).add(npd.mul(wNpd));
    return new NDArray[] {total, dice, bce, npd};
  }

  private static NDArray sq(NDArray diff) {
    return diff.square().mean();
  }
}
