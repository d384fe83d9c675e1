package org.effiseg.ops;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.training.GradientCollector;
import org.effiseg.nativeapi.Backend;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.EffisegException;
import org.effiseg.nativeapi.Ops;
import org.effiseg.nativeapi.Tensor;
import org.effiseg.testing.NoNativeLeaks;
import org.effiseg.testing.Backends;
import org.effiseg.testing.GradCheck;
import org.effiseg.testing.Rand;
import org.effiseg.testing.Tolerance;
import org.effiseg.testing.TorchOracle;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Global average pooling (es_global_avg_pool_*) and the squeeze-excite gate
 * (es_channel_scale_*: y = x * s[n, c]), forward and backward.
 */
@ExtendWith(NoNativeLeaks.class)
class PoolOpTest {
  /** N, H, W, C: odd, non-square, batch 1, a 1x1 map, and one large enough to split. */
  /** Small odd widths, then the network's (summed in register slices of 64, 48, 32, 16 and 8
   * channels on avx512: 24 = 16 + 8, 120 = 64 + 48 + 8) over more than one block of rows. */
  private static final int[][] SHAPES = {{2, 5, 7, 13}, {1, 9, 4, 6}, {3, 1, 1, 5}, {1, 40, 36, 33},
      {2, 30, 31, 24}, {1, 21, 23, 120}};

  private static long[] nhwc(int[] s) {
    return new long[] {s[0], s[1], s[2], s[3]};
  }

  /**
   * Against double sums. The forward sums in float chunks of 64 rows combined in double and
   * divides once: rel 1e-6 with abs 1e-7 for means near zero; the backward is one division.
   */
  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void globalAvgPoolMatchesReference(Backend backend) {
    for (int[] s : SHAPES) {
      int n = s[0];
      int hw = s[1] * s[2];
      int c = s[3];
      Rand rand = new Rand(3);
      float[] x = rand.normal(n * hw * c, 1);
      float[] dy = rand.normal(n * c, 1);
      try (Context ctx = Backends.open(backend)) {
        Tensor tx = ctx.tensor(x, nhwc(s));
        Tensor ty = ctx.tensor(n, 1, 1, c);
        Tensor tdy = ctx.tensor(dy, n, 1, 1, c);
        Tensor tdx = ctx.tensor(nhwc(s));
        Ops.globalAvgPoolForward(ctx, tx, ty);
        Ops.globalAvgPoolBackward(ctx, tdy, tdx);
        double[] y = new double[n * c];
        double[] dx = new double[x.length];
        for (int b = 0; b < n; b++) {
          for (int p = 0; p < hw; p++) {
            for (int k = 0; k < c; k++) {
              y[b * c + k] += x[(b * hw + p) * c + k] / (double) hw;
              dx[(b * hw + p) * c + k] = dy[b * c + k] / (double) hw;
            }
          }
        }
        String at = java.util.Arrays.toString(s);
        Tolerance.assertClose("pool forward " + at, ty.read(), y, 1e-7, 1e-6);
        Tolerance.assertClose("pool backward " + at, tdx.read(), dx, 0, 1e-7);
      }
    }
  }

  /** y = x * s is one rounding; ds sums HW products (float chunks into double): rel 1e-5. */
  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void channelScaleMatchesReference(Backend backend) {
    for (int[] s : SHAPES) {
      int n = s[0];
      int hw = s[1] * s[2];
      int c = s[3];
      Rand rand = new Rand(5);
      float[] x = rand.normal(n * hw * c, 1);
      float[] g = rand.uniform(n * c, 0, 1);
      float[] dy = rand.normal(n * hw * c, 1);
      try (Context ctx = Backends.open(backend)) {
        Tensor tx = ctx.tensor(x, nhwc(s));
        Tensor ts = ctx.tensor(g, n, 1, 1, c);
        Tensor ty = ctx.tensor(nhwc(s));
        Tensor tdy = ctx.tensor(dy, nhwc(s));
        Tensor tdx = ctx.tensor(nhwc(s));
        Tensor tds = ctx.tensor(n, 1, 1, c);
        Ops.channelScaleForward(ctx, tx, ts, ty);
        Ops.channelScaleBackward(ctx, tx, ts, tdy, tdx, tds);
        double[] y = new double[x.length];
        double[] dx = new double[x.length];
        double[] ds = new double[n * c];
        for (int b = 0; b < n; b++) {
          for (int p = 0; p < hw; p++) {
            for (int k = 0; k < c; k++) {
              int i = (b * hw + p) * c + k;
              y[i] = (double) x[i] * g[b * c + k];
              dx[i] = (double) dy[i] * g[b * c + k];
              ds[b * c + k] += (double) dy[i] * x[i];
            }
          }
        }
        String at = java.util.Arrays.toString(s);
        Tolerance.assertClose("scale forward " + at, ty.read(), y, 0, 1e-7);
        Tolerance.assertClose("scale dx " + at, tdx.read(), dx, 0, 1e-7);
        Tolerance.assertClose("scale ds " + at, tds.read(), ds, 1e-5, 1e-5);

        // Each gradient alone gives the same bits.
        Tensor dxOnly = ctx.tensor(nhwc(s));
        Tensor dsOnly = ctx.tensor(n, 1, 1, c);
        Ops.channelScaleBackward(ctx, tx, ts, tdy, dxOnly, null);
        Ops.channelScaleBackward(ctx, tx, ts, tdy, null, dsOnly);
        assertThat(dxOnly.read()).usingExactEquality().containsExactly(tdx.read()).inOrder();
        assertThat(dsOnly.read()).usingExactEquality().containsExactly(tds.read()).inOrder();
      }
    }
  }

  /**
   * es_channel_scale_add, y = x * s + alpha * t (the squeeze-excite input's gradient: the
   * product's plus the pool's, alpha = 1/HW): against double, then in place (y = x) with the
   * same bits, and as the sum the model made before (es_channel_scale_backward's dx +
   * es_global_avg_pool_backward) within two roundings.
   */
  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void channelScaleAddMatchesReference(Backend backend) {
    for (int[] s : SHAPES) {
      int n = s[0];
      int hw = s[1] * s[2];
      int c = s[3];
      Rand rand = new Rand(6);
      float[] x = rand.normal(n * hw * c, 1);
      float[] g = rand.uniform(n * c, 0, 1);
      float[] t = rand.normal(n * c, 1);
      float alpha = 1f / hw;
      try (Context ctx = Backends.open(backend)) {
        Tensor tx = ctx.tensor(x, nhwc(s));
        Tensor ts = ctx.tensor(g, n, 1, 1, c);
        Tensor tt = ctx.tensor(t, n, 1, 1, c);
        Tensor ty = ctx.tensor(nhwc(s));
        ty.fill(Float.NaN);
        Ops.channelScaleAdd(ctx, tx, ts, tt, alpha, ty);
        double[] y = new double[x.length];
        for (int b = 0; b < n; b++) {
          for (int p = 0; p < hw; p++) {
            for (int k = 0; k < c; k++) {
              int i = (b * hw + p) * c + k;
              y[i] = (double) x[i] * g[b * c + k] + (double) alpha * t[b * c + k];
            }
          }
        }
        String at = java.util.Arrays.toString(s);
        float[] got = ty.read();
        Tolerance.assertClose("scale add " + at, got, y, 1e-6, 1e-6);

        Tensor inPlace = ctx.tensor(x, nhwc(s));
        Ops.channelScaleAdd(ctx, inPlace, ts, tt, alpha, inPlace);
        assertThat(inPlace.read()).usingExactEquality().containsExactly(got).inOrder();

        Tensor product = ctx.tensor(nhwc(s));
        Tensor fromPool = ctx.tensor(nhwc(s));
        Ops.channelScaleBackward(ctx, tx, ts, tx, product, null);
        Ops.globalAvgPoolBackward(ctx, tt, fromPool);
        Ops.axpby(ctx, 1f, fromPool, 1f, product);
        Tolerance.assertClose("as before " + at, got, product.read(), 1e-6, 1e-6);
      }
    }
  }

  /** Finite differences of the float forward ops (GradCheck's default tolerances). */
  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void backwardMatchesFiniteDifferences(Backend backend) {
    long[] shape = {2, 3, 5, 4};
    int size = Rand.size(shape);
    Rand rand = new Rand(7);
    float[] x = rand.normal(size, 1);
    float[] g = rand.uniform(8, 0, 1);
    float[] r = rand.normal(size, 1);
    float[] r2 = rand.normal(8, 1);
    try (Context ctx = Backends.open(backend)) {
      Tensor tx = ctx.tensor(x, shape);
      Tensor ts = ctx.tensor(g, 2, 1, 1, 4);
      Tensor ty = ctx.tensor(shape);
      Tensor tp = ctx.tensor(2, 1, 1, 4);
      Tensor tr = ctx.tensor(r, shape);
      Tensor tr2 = ctx.tensor(r2, 2, 1, 1, 4);
      Tensor tdx = ctx.tensor(shape);
      Tensor tds = ctx.tensor(2, 1, 1, 4);
      Tensor tpdx = ctx.tensor(shape);
      Ops.channelScaleBackward(ctx, tx, ts, tr, tdx, tds);
      Ops.globalAvgPoolBackward(ctx, tr2, tpdx);
      java.util.function.Supplier<Double> scaleLoss =
          () -> {
            tx.write(x);
            ts.write(g);
            Ops.channelScaleForward(ctx, tx, ts, ty);
            return GradCheck.dot(ty.read(), r);
          };
      GradCheck.check("channel_scale dx", x, tdx.read(), scaleLoss, 1e-2, 2e-3, 2e-2, size, 1);
      GradCheck.check("channel_scale ds", g, tds.read(), scaleLoss, 1e-2, 2e-3, 2e-2, 8, 2);
      GradCheck.check(
          "global_avg_pool dx",
          x,
          tpdx.read(),
          () -> {
            tx.write(x);
            Ops.globalAvgPoolForward(ctx, tx, tp);
            return GradCheck.dot(tp.read(), r2);
          },
          1e-2,
          2e-3,
          2e-2,
          size,
          3);
    }
  }

  /**
   * The squeeze-excite block's pooling and gate against PyTorch with autograd: mean over H, W
   * (sum / HW, DJL's mean takes one axis) and x * s broadcast. Float32 on both sides: rel 1e-5.
   */
  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void matchesPyTorch(Backend backend) {
    int n = 2;
    int h = 7;
    int w = 5;
    int c = 6;
    Rand rand = new Rand(9);
    float[] x = rand.normal(n * h * w * c, 1);
    float[] g = rand.uniform(n * c, 0, 1);
    float[] r = rand.normal(n * h * w * c, 1);
    float[] r2 = rand.normal(n * c, 1);
    try (Context ctx = Backends.open(backend);
        TorchOracle torch = new TorchOracle()) {
      Tensor tx = ctx.tensor(x, n, h, w, c);
      Tensor ts = ctx.tensor(g, n, 1, 1, c);
      Tensor ty = ctx.tensor(n, h, w, c);
      Tensor tp = ctx.tensor(n, 1, 1, c);
      Tensor tr = ctx.tensor(r, n, h, w, c);
      Tensor tr2 = ctx.tensor(r2, n, 1, 1, c);
      Tensor tdx = ctx.tensor(n, h, w, c);
      Tensor tds = ctx.tensor(n, 1, 1, c);
      Tensor tpdx = ctx.tensor(n, h, w, c);
      Ops.channelScaleForward(ctx, tx, ts, ty);
      Ops.channelScaleBackward(ctx, tx, ts, tr, tdx, tds);
      Ops.globalAvgPoolForward(ctx, tx, tp);
      Ops.globalAvgPoolBackward(ctx, tr2, tpdx);

      NDArray px = torch.fromNhwc(x, n, h, w, c);
      NDArray ps = torch.fromNhwc(g, n, 1, 1, c);
      px.setRequiresGradient(true);
      ps.setRequiresGradient(true);
      try (GradientCollector gc = TorchOracle.record()) {
        NDArray y = px.mul(ps);
        Tolerance.assertClose("scale forward", ty.read(), TorchOracle.toNhwc(y), 0, 1e-6);
        gc.backward(y.mul(torch.fromNhwc(r, n, h, w, c)).sum());
      }
      Tolerance.assertClose("scale dx", tdx.read(), TorchOracle.toNhwc(px.getGradient()), 0, 1e-6);
      Tolerance.assertClose("scale ds", tds.read(), TorchOracle.toNhwc(ps.getGradient()), 1e-5, 1e-5);

      NDArray qx = torch.fromNhwc(x, n, h, w, c);
      qx.setRequiresGradient(true);
      try (GradientCollector gc = TorchOracle.record()) {
        NDArray pooled = qx.sum(new int[] {2, 3}, true).div(h * w);
        Tolerance.assertClose("pool forward", tp.read(), TorchOracle.toNhwc(pooled), 1e-6, 1e-5);
        gc.backward(pooled.mul(torch.fromNhwc(r2, n, 1, 1, c)).sum());
      }
      Tolerance.assertClose("pool dx", tpdx.read(), TorchOracle.toNhwc(qx.getGradient()), 1e-7, 1e-6);
    }
  }

  /** Fixed row blocks summed in order: the same bits for any thread count. */
  @Test
  void reductionsAreBitIdenticalForAnyThreadCount() {
    long[] shape = {1, 56, 56, 40};
    int size = Rand.size(shape);
    Rand rand = new Rand(21);
    float[] x = rand.normal(size, 1);
    float[] dy = rand.normal(size, 1);
    float[] g = rand.uniform(40, 0, 1);
    float[][] pooled = new float[3][];
    float[][] ds = new float[3][];
    for (int threads = 1; threads <= 3; threads++) {
      try (Context ctx = Context.cpu(threads)) {
        Tensor tx = ctx.tensor(x, shape);
        Tensor tp = ctx.tensor(1, 1, 1, 40);
        Tensor tds = ctx.tensor(1, 1, 1, 40);
        Ops.globalAvgPoolForward(ctx, tx, tp);
        Ops.channelScaleBackward(ctx, tx, ctx.tensor(g, 1, 1, 1, 40), ctx.tensor(dy, shape), null, tds);
        pooled[threads - 1] = tp.read();
        ds[threads - 1] = tds.read();
      }
    }
    for (int t = 1; t < 3; t++) {
      assertThat(pooled[t]).usingExactEquality().containsExactly(pooled[0]).inOrder();
      assertThat(ds[t]).usingExactEquality().containsExactly(ds[0]).inOrder();
    }
  }

  @Test
  void badInputIsAnException() {
    try (Context ctx = Context.cpu(1)) {
      Tensor x = ctx.tensor(2, 4, 4, 3);
      Tensor wrongPool = ctx.tensor(2, 3);
      EffisegException e =
          assertThrows(EffisegException.class, () -> Ops.globalAvgPoolForward(ctx, x, wrongPool));
      assertThat(e.status()).isEqualTo(EffisegException.Status.SHAPE);
      assertThat(e).hasMessageThat().contains("es_global_avg_pool_forward");
      assertThat(e).hasMessageThat().contains("[2,3]");

      Tensor s = ctx.tensor(1, 1, 1, 3); // batch 1 gate for a batch-2 x
      e = assertThrows(EffisegException.class, () -> Ops.channelScaleForward(ctx, x, s, x));
      assertThat(e).hasMessageThat().contains("es_channel_scale_forward");
      assertThat(e).hasMessageThat().contains("[1,1,1,3]");
      Tensor s2 = ctx.tensor(2, 1, 1, 3);
      e = assertThrows(EffisegException.class, () -> Ops.channelScaleAdd(ctx, x, s2, s, 1f, x));
      assertThat(e).hasMessageThat().contains("es_channel_scale_add");

      Tensor flat = ctx.tensor(32, 3);
      e = assertThrows(EffisegException.class, () -> Ops.globalAvgPoolBackward(ctx, flat, flat));
      assertThat(e.status()).isEqualTo(EffisegException.Status.SHAPE);
    }
  }
}
