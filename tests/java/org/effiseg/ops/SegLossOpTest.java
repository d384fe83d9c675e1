package org.effiseg.ops;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.training.GradientCollector;
import java.util.stream.Stream;
import org.effiseg.nativeapi.Backend;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.EffisegException;
import org.effiseg.nativeapi.Ops;
import org.effiseg.nativeapi.Tensor;
import org.effiseg.testing.NoNativeLeaks;
import org.effiseg.testing.Backends;
import org.effiseg.testing.Rand;
import org.effiseg.testing.Tolerance;
import org.effiseg.testing.TorchOracle;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * es_seg_loss: the fused Dice + BCE + near-pixel-diff loss and its gradient, against a double
 * precision reference (values; gradients by finite differences on it), against the same loss
 * composed from PyTorch ops with autograd, and on hand-computed cases.
 *
 * <p>Tolerances: the kernel evaluates each pixel in float (exp, log1p, sigmoid: a few ulp) and
 * sums in double, so terms carry ~1e-7 relative error; 1e-6 relative is asserted. Per-pixel
 * gradients are float expressions of double-accumulated sums: ~1e-6 relative, plus an absolute
 * floor of 1e-6 of the largest gradient for entries that nearly cancel (p - t + dice + npd).
 * PyTorch sums in float, with its own order: 1e-5 relative on terms, 1e-4 on gradients.
 */
@ExtendWith(NoNativeLeaks.class)
class SegLossOpTest {
  /** Result of one native call. */
  record Result(float[] terms, float[] dlogits) {}

  static Result run(Context ctx, float[] x, float[] t, int n, int h, int w, float wd, float wb,
      float wn, int d, boolean gradient) {
    try (Tensor tx = ctx.tensor(x, n, h, w, 1);
        Tensor tt = ctx.tensor(t, n, h, w, 1);
        Tensor terms = ctx.tensor(4);
        Tensor dl = gradient ? ctx.tensor(n, h, w, 1) : null) {
      Ops.segLoss(ctx, tx, tt, terms, dl, wd, wb, wn, d);
      return new Result(terms.read(), gradient ? dl.read() : null);
    }
  }

  /** Smooth blobs as target (a polyp-like mask) plus logits that partly agree with it. */
  static float[][] data(int n, int h, int w, long seed) {
    Rand rand = new Rand(seed);
    float[] noise = rand.normal(n * h * w, 1.5);
    float[] t = new float[n * h * w];
    float[] x = new float[n * h * w];
    for (int b = 0; b < n; b++) {
      double ci = h * (0.3 + 0.1 * b), cj = w * 0.55, r = 0.3 * Math.min(h, w) + 1;
      for (int i = 0; i < h; i++) {
        for (int j = 0; j < w; j++) {
          int k = (b * h + i) * w + j;
          t[k] = Math.hypot(i - ci, j - cj) < r ? 1f : 0f;
          x[k] = (t[k] > 0 ? 1.0f : -1.0f) + noise[k];
        }
      }
    }
    return new float[][] {x, t};
  }

  /** (N, H, W, d, wDice, wBce, wNpd): the study's weights, odd/non-square sizes, batch 1. */
  static Stream<Arguments> cases() {
    return Stream.of(
        Arguments.of(2, 9, 13, 4, 1f, 1f, 0.01f),
        Arguments.of(1, 5, 7, 4, 1f, 0.5f, 0.3f),
        Arguments.of(3, 16, 12, 1, 0.7f, 1.3f, 0.05f),
        Arguments.of(2, 11, 6, 2, 1f, 1f, 1f),
        Arguments.of(1, 8, 9, 4, 0f, 1f, 0f));
  }

  static Stream<Arguments> backendsAndCases() {
    return Backends.all().flatMap(b -> cases().map(c -> Arguments.of(prepend(b, c.get()))));
  }

  private static Object[] prepend(Object first, Object[] rest) {
    Object[] all = new Object[rest.length + 1];
    all[0] = first;
    System.arraycopy(rest, 0, all, 1, rest.length);
    return all;
  }

  private static double maxAbs(double[] a) {
    double m = 0;
    for (double v : a) {
      m = Math.max(m, Math.abs(v));
    }
    return m;
  }

  private static double[] toDouble(float[] a) {
    double[] d = new double[a.length];
    for (int i = 0; i < a.length; i++) {
      d[i] = a[i];
    }
    return d;
  }

  @ParameterizedTest
  @MethodSource("backendsAndCases")
  void termsAndGradientMatchDoubleReference(
      Backend backend, int n, int h, int w, int d, float wd, float wb, float wn) {
    float[][] xt = data(n, h, w, 31L * h + w);
    float[] x = xt[0], t = xt[1];
    try (Context ctx = Backends.open(backend)) {
      Result r = run(ctx, x, t, n, h, w, wd, wb, wn, d, true);
      double[] expected = SegLossReference.terms(x, t, n, h, w, wd, wb, wn, d);
      Tolerance.assertClose("terms {total, dice, bce, npd}", r.terms(), expected, 1e-7, 1e-6);
      double[] numeric = SegLossReference.gradient(x, t, n, h, w, wd, wb, wn, d);
      Tolerance.assertClose(
          "dlogits vs finite differences", r.dlogits(), numeric, 1e-6 * maxAbs(numeric), 1e-5);
      // without dlogits the same terms, bit for bit
      Result noGrad = run(ctx, x, t, n, h, w, wd, wb, wn, d, false);
      assertThat(noGrad.terms()).usingExactEquality().containsExactly(r.terms()).inOrder();
    }
  }

  @ParameterizedTest
  @MethodSource("backendsAndCases")
  void termsAndGradientMatchPyTorch(
      Backend backend, int n, int h, int w, int d, float wd, float wb, float wn) {
    float[][] xt = data(n, h, w, 17L * h + w);
    float[] x = xt[0], t = xt[1];
    try (Context ctx = Backends.open(backend);
        TorchOracle torch = new TorchOracle()) {
      Result r = run(ctx, x, t, n, h, w, wd, wb, wn, d, true);
      NDArray tx = torch.array(x, n, 1, h, w);
      NDArray tt = torch.array(t, n, 1, h, w);
      tx.setRequiresGradient(true);
      float[] expected = new float[4];
      try (GradientCollector gc = TorchOracle.record()) {
        NDArray[] terms = SegLossReference.torch(tx, tt, wd, wb, wn, d);
        for (int k = 0; k < 4; k++) {
          expected[k] = terms[k].getFloat();
        }
        gc.backward(terms[0]);
      }
      Tolerance.assertClose("terms vs PyTorch", r.terms(), expected, 1e-6, 1e-5);
      double[] g = toDouble(tx.getGradient().toFloatArray());
      Tolerance.assertClose("dlogits vs PyTorch autograd", r.dlogits(), g, 1e-5 * maxAbs(g), 1e-4);
    }
  }

  @Test
  void studyShapeMatchesPyTorch() {
    // batch 8 at 64x64 (the 224x224 shape is LossBench's), the study's weights
    int n = 8, h = 64, w = 64, d = 4;
    float[][] xt = data(n, h, w, 99);
    try (Context ctx = Context.cpu(2);
        TorchOracle torch = new TorchOracle()) {
      Result r = run(ctx, xt[0], xt[1], n, h, w, 1f, 1f, 0.01f, d, true);
      NDArray tx = torch.array(xt[0], n, 1, h, w);
      tx.setRequiresGradient(true);
      float[] expected = new float[4];
      try (GradientCollector gc = TorchOracle.record()) {
        NDArray[] terms = SegLossReference.torch(tx, torch.array(xt[1], n, 1, h, w), 1f, 1f, 0.01f, d);
        for (int k = 0; k < 4; k++) {
          expected[k] = terms[k].getFloat();
        }
        gc.backward(terms[0]);
      }
      Tolerance.assertClose("terms vs PyTorch", r.terms(), expected, 1e-6, 1e-5);
      double[] g = toDouble(tx.getGradient().toFloatArray());
      Tolerance.assertClose("dlogits vs PyTorch", r.dlogits(), g, 1e-5 * maxAbs(g), 1e-4);
    }
  }

  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void perfectPredictionHasNoLossAndNoGradient(Backend backend) {
    int n = 2, h = 12, w = 10;
    float[] t = data(n, h, w, 1)[1];
    float[] x = new float[t.length];
    for (int i = 0; i < x.length; i++) {
      x[i] = t[i] > 0 ? 20f : -20f; // sigmoid within 2e-9 of the target
    }
    try (Context ctx = Backends.open(backend)) {
      Result r = run(ctx, x, t, n, h, w, 1f, 1f, 0f, 4, true);
      // bce = log1p(exp(-20)) = 2.1e-9; dice = 1 - (2I + s)/(P + T + s) with P ~ T: ~1e-9
      assertThat((double) r.terms()[2]).isWithin(1e-8).of(2.0611536e-9);
      assertThat((double) r.terms()[1]).isWithin(1e-7).of(0.0);
      assertThat((double) r.terms()[0]).isWithin(1e-7).of(0.0);
      for (float g : r.dlogits()) {
        assertThat((double) Math.abs(g)).isLessThan(1e-9);
      }
    }
  }

  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void emptyTargetDiceDependsOnlyOnThePrediction(Backend backend) {
    int n = 2, h = 6, w = 9;
    float[] t = new float[n * h * w];
    float[] sure = new float[t.length];
    java.util.Arrays.fill(sure, -30f);
    float[] unsure = new float[t.length]; // p = 1/2 everywhere
    try (Context ctx = Backends.open(backend)) {
      // confident negatives: P = 54 * e^-30, dice = P / (P + 1e-5) ~ 5e-7, bce ~ e^-30
      Result r = run(ctx, sure, t, n, h, w, 1f, 1f, 0f, 4, true);
      double p = 54 * Math.exp(-30);
      assertThat((double) r.terms()[1]).isWithin(1e-8).of(p / (p + 1e-5));
      assertThat((double) r.terms()[2]).isWithin(1e-15).of(Math.exp(-30));
      // p = 1/2: dice = 1 - 1e-5 / (27 + 1e-5), bce = log 2, npd of a constant map = 0
      r = run(ctx, unsure, t, n, h, w, 1f, 1f, 0.01f, 4, true);
      assertThat((double) r.terms()[1]).isWithin(1e-7).of(1 - 1e-5 / (27 + 1e-5));
      assertThat((double) r.terms()[2]).isWithin(1e-7).of(Math.log(2));
      assertThat(r.terms()[3]).isEqualTo(0f);
      // d bce/dx = (1/2 - 0) / 108; d dice/dx = (2I + s)/D^2 * p(1-p) / N = 1e-5/27^2/4/2
      double expected = 0.5 / 108 + 1e-5 / (27.0 * 27.0) * 0.25 / 2;
      for (float g : r.dlogits()) {
        assertThat((double) g).isWithin(1e-9).of(expected);
      }
    }
  }

  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void constantMapHasNoNearPixelDiffAndZeroWeightDisablesIt(Backend backend) {
    int n = 2, h = 10, w = 7, d = 4;
    float[][] xt = data(n, h, w, 5);
    float[] constant = new float[n * h * w];
    java.util.Arrays.fill(constant, 0.7f);
    try (Context ctx = Backends.open(backend)) {
      Result on = run(ctx, constant, xt[1], n, h, w, 1f, 1f, 1f, d, true);
      Result off = run(ctx, constant, xt[1], n, h, w, 1f, 1f, 0f, d, true);
      assertThat(on.terms()[3]).isEqualTo(0f);
      assertThat(on.dlogits()).usingExactEquality().containsExactly(off.dlogits()).inOrder();

      // λ = 0: npd is still reported, but neither the total nor the gradient includes it
      Result study = run(ctx, xt[0], xt[1], n, h, w, 1f, 1f, 0.01f, d, true);
      Result zero = run(ctx, xt[0], xt[1], n, h, w, 1f, 1f, 0f, d, true);
      assertThat(zero.terms()[3]).isEqualTo(study.terms()[3]);
      assertThat(zero.terms()[3]).isGreaterThan(0f);
      assertThat((double) zero.terms()[0])
          .isWithin(1e-6)
          .of((double) zero.terms()[1] + zero.terms()[2]);
      double[] numeric = SegLossReference.gradient(xt[0], xt[1], n, h, w, 1, 1, 0, d);
      Tolerance.assertClose("λ = 0 gradient", zero.dlogits(), numeric, 1e-6 * maxAbs(numeric), 1e-5);
    }
  }

  @Test
  void mapsNoLargerThanTheDistanceCountEmptyTermsAsZero() {
    // With λ = 0 the ABI accepts H <= d; the vertical and diagonal terms have no elements and
    // count as 0 (PyTorch's mean of an empty tensor would be NaN); the horizontal one remains.
    int n = 1, h = 3, w = 8, d = 4;
    float[][] xt = data(n, h, w, 8);
    try (Context ctx = Context.cpu(2)) {
      Result r = run(ctx, xt[0], xt[1], n, h, w, 1f, 1f, 0f, d, true);
      double[] expected = SegLossReference.terms(xt[0], xt[1], n, h, w, 1, 1, 0, d);
      Tolerance.assertClose("terms", r.terms(), expected, 1e-7, 1e-6);
      assertThat(r.terms()[3]).isGreaterThan(0f);
    }
  }

  @Test
  void resultsAreIndependentOfThreadCount() {
    int n = 3, h = 37, w = 29;
    float[][] xt = data(n, h, w, 12);
    Result one, two;
    try (Context ctx = Context.cpu(1)) {
      one = run(ctx, xt[0], xt[1], n, h, w, 1f, 1f, 0.01f, 4, true);
    }
    try (Context ctx = Context.cpu(2)) {
      two = run(ctx, xt[0], xt[1], n, h, w, 1f, 1f, 0.01f, 4, true);
    }
    assertThat(two.terms()).usingExactEquality().containsExactly(one.terms()).inOrder();
    assertThat(two.dlogits()).usingExactEquality().containsExactly(one.dlogits()).inOrder();
  }

  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void badInputIsRejectedWithAUsefulMessage(Backend backend) {
    try (Context ctx = Backends.open(backend);
        Tensor x = ctx.tensor(2, 8, 8, 1);
        Tensor t = ctx.tensor(2, 8, 8, 1);
        Tensor twoChannels = ctx.tensor(2, 8, 8, 2);
        Tensor tOther = ctx.tensor(2, 8, 7, 1);
        Tensor terms = ctx.tensor(4);
        Tensor terms3 = ctx.tensor(3);
        Tensor small = ctx.tensor(2, 3, 8, 1)) {
      EffisegException e =
          assertThrows(EffisegException.class, () -> Ops.segLoss(ctx, twoChannels, twoChannels, terms, null, 1, 1, 0, 4));
      assertThat(e.status()).isEqualTo(EffisegException.Status.SHAPE);
      assertThat(e).hasMessageThat().contains("es_seg_loss");
      assertThat(e).hasMessageThat().contains("[2,8,8,2]");

      e = assertThrows(EffisegException.class, () -> Ops.segLoss(ctx, x, tOther, terms, null, 1, 1, 0, 4));
      assertThat(e).hasMessageThat().contains("[2,8,7,1]");
      e = assertThrows(EffisegException.class, () -> Ops.segLoss(ctx, x, t, terms3, null, 1, 1, 0, 4));
      assertThat(e).hasMessageThat().contains("[3]");
      e = assertThrows(EffisegException.class, () -> Ops.segLoss(ctx, x, t, terms, tOther, 1, 1, 0, 4));
      assertThat(e).hasMessageThat().contains("dlogits");
      e = assertThrows(EffisegException.class, () -> Ops.segLoss(ctx, x, t, terms, null, 1, 1, 0.01f, 0));
      assertThat(e.status()).isEqualTo(EffisegException.Status.INVALID_ARGUMENT);
      assertThat(e).hasMessageThat().contains("npd_distance");
      e = assertThrows(EffisegException.class, () -> Ops.segLoss(ctx, small, small, terms, null, 1, 1, 0.01f, 4));
      assertThat(e).hasMessageThat().contains("[2,3,8,1]");
      e = assertThrows(EffisegException.class, () -> Ops.segLoss(ctx, x, t, terms, null, -1, 1, 0, 4));
      assertThat(e.status()).isEqualTo(EffisegException.Status.INVALID_ARGUMENT);
      assertThrows(EffisegException.class, () -> Ops.segLoss(ctx, x, null, terms, null, 1, 1, 0, 4));
    }
  }
}
