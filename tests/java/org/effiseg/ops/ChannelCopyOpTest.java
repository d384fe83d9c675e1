package org.effiseg.ops;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
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
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * es_channel_copy: concat, slice and their gradients (Ghost modules). Copies are exact, so
 * every comparison here is bit for bit; accumulation is one float add per element, also exact
 * against the same add in Java or PyTorch.
 */
@ExtendWith(NoNativeLeaks.class)
class ChannelCopyOpTest {
  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void concatMatchesPyTorchAndItsGradientIsTheSlices(Backend backend) {
    Rand rand = new Rand(1);
    int n = 2, h = 3, w = 5, c1 = 3, c2 = 7; // odd sizes, non-square
    float[] a = rand.normal(n * h * w * c1, 1);
    float[] b = rand.normal(n * h * w * c2, 1);
    float[] dy = rand.normal(n * h * w * (c1 + c2), 1);
    try (Context ctx = Backends.open(backend);
        Tensor ta = ctx.tensor(a, n, h, w, c1);
        Tensor tb = ctx.tensor(b, n, h, w, c2);
        Tensor ty = ctx.tensor(n, h, w, c1 + c2);
        Tensor tdy = ctx.tensor(dy, n, h, w, c1 + c2);
        Tensor tda = ctx.tensor(n, h, w, c1);
        Tensor tdb = ctx.tensor(n, h, w, c2);
        TorchOracle torch = new TorchOracle()) {
      Ops.channelCopy(ctx, ta, 0, ty, 0, c1, false);
      Ops.channelCopy(ctx, tb, 0, ty, c1, c2, false);
      // backward of concat: each input's gradient is its slice of dy
      Ops.channelCopy(ctx, tdy, 0, tda, 0, c1, false);
      Ops.channelCopy(ctx, tdy, c1, tdb, 0, c2, false);

      NDArray xa = torch.array(a, n, h, w, c1);
      NDArray xb = torch.array(b, n, h, w, c2);
      xa.setRequiresGradient(true);
      xb.setRequiresGradient(true);
      try (GradientCollector gc = TorchOracle.record()) {
        NDArray cat = NDArrays.concat(new NDList(xa, xb), 3);
        Tolerance.assertClose("concat vs PyTorch", ty.read(), cat.toFloatArray(), 0, 0);
        gc.backward(cat.mul(torch.array(dy, n, h, w, c1 + c2)).sum());
      }
      Tolerance.assertClose("d a vs PyTorch", tda.read(), xa.getGradient().toFloatArray(), 0, 0);
      Tolerance.assertClose("d b vs PyTorch", tdb.read(), xb.getGradient().toFloatArray(), 0, 0);
    }
  }

  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void sliceMatchesPyTorchAndAccumulatesItsGradient(Backend backend) {
    Rand rand = new Rand(2);
    int n = 1, h = 4, w = 3, c = 9, from = 2, count = 5; // batch 1
    float[] x = rand.normal(n * h * w * c, 1);
    float[] dy = rand.normal(n * h * w * count, 1);
    float[] dx0 = rand.normal(n * h * w * c, 1); // gradient already there from another consumer
    try (Context ctx = Backends.open(backend);
        Tensor tx = ctx.tensor(x, n, h, w, c);
        Tensor ty = ctx.tensor(n, h, w, count);
        Tensor tdy = ctx.tensor(dy, n, h, w, count);
        Tensor tdx = ctx.tensor(dx0, n, h, w, c);
        TorchOracle torch = new TorchOracle()) {
      Ops.channelCopy(ctx, tx, from, ty, 0, count, false);
      Ops.channelCopy(ctx, tdy, 0, tdx, from, count, true);

      NDArray xt = torch.array(x, n, h, w, c);
      xt.setRequiresGradient(true);
      try (GradientCollector gc = TorchOracle.record()) {
        NDArray slice = xt.get("..., " + from + ":" + (from + count));
        Tolerance.assertClose("slice vs PyTorch", ty.read(), slice.toFloatArray(), 0, 0);
        gc.backward(slice.mul(torch.array(dy, n, h, w, count)).sum());
      }
      NDArray expected = xt.getGradient().add(torch.array(dx0, n, h, w, c));
      Tolerance.assertClose("dx0 + slice gradient", tdx.read(), expected.toFloatArray(), 0, 0);
    }
  }

  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void copiesMatchAJavaReferenceIncludingWholeRows(Backend backend) {
    Rand rand = new Rand(3);
    int rows = 3 * 7 * 5;
    // {Cx, xOffset, Cy, yOffset, count}: a middle range, and whole rows on both sides
    int[][] cases = {{6, 1, 10, 4, 5}, {4, 0, 4, 0, 4}, {1, 0, 3, 2, 1}};
    for (int[] k : cases) {
      int cx = k[0], xo = k[1], cy = k[2], yo = k[3], count = k[4];
      float[] x = rand.normal(rows * cx, 1);
      float[] y0 = rand.normal(rows * cy, 1);
      for (boolean accumulate : new boolean[] {false, true}) {
        try (Context ctx = Backends.open(backend);
            Tensor tx = ctx.tensor(x, 3, 7, 5, cx);
            Tensor ty = ctx.tensor(y0, 3, 7, 5, cy)) {
          Ops.channelCopy(ctx, tx, xo, ty, yo, count, accumulate);
          float[] expected = y0.clone();
          for (int r = 0; r < rows; r++) {
            for (int i = 0; i < count; i++) {
              float v = x[r * cx + xo + i];
              expected[r * cy + yo + i] = accumulate ? expected[r * cy + yo + i] + v : v;
            }
          }
          Tolerance.assertClose(
              "copy " + java.util.Arrays.toString(k) + " accumulate=" + accumulate,
              ty.read(),
              expected,
              0,
              0);
        }
      }
    }
  }

  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void sliceGradientMatchesFiniteDifferences(Backend backend) {
    Rand rand = new Rand(4);
    int n = 2, h = 3, w = 2, c = 5, from = 1, count = 3;
    float[] x = rand.normal(n * h * w * c, 1);
    float[] r = rand.normal(n * h * w * count, 1);
    try (Context ctx = Backends.open(backend);
        Tensor tx = ctx.tensor(x, n, h, w, c);
        Tensor ty = ctx.tensor(n, h, w, count);
        Tensor tr = ctx.tensor(r, n, h, w, count);
        Tensor tdx = ctx.tensor(n, h, w, c)) {
      Ops.channelCopy(ctx, tr, 0, tdx, from, count, false);
      // L = sum(slice(x) * r) is linear: central differences are exact up to the rounding of L.
      GradCheck.check(
          "slice",
          x,
          tdx.read(),
          () -> {
            tx.write(x);
            Ops.channelCopy(ctx, tx, from, ty, 0, count, false);
            return GradCheck.dot(ty.read(), r);
          },
          1e-2,
          2e-3,
          2e-2,
          x.length,
          4);
    }
  }

  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void badRangesAndShapesAreRejected(Backend backend) {
    try (Context ctx = Backends.open(backend);
        Tensor x = ctx.tensor(2, 3, 3, 4);
        Tensor y = ctx.tensor(2, 3, 3, 6);
        Tensor yPixels = ctx.tensor(2, 3, 4, 6);
        Tensor yRank = ctx.tensor(2, 9, 6)) {
      EffisegException e =
          assertThrows(EffisegException.class, () -> Ops.channelCopy(ctx, x, 2, y, 0, 3, false));
      assertThat(e.status()).isEqualTo(EffisegException.Status.SHAPE);
      assertThat(e).hasMessageThat().contains("es_channel_copy");
      assertThat(e).hasMessageThat().contains("[2,3,3,4]");
      assertThat(e).hasMessageThat().contains("out of range");

      e = assertThrows(EffisegException.class, () -> Ops.channelCopy(ctx, x, 0, y, 4, 3, true));
      assertThat(e).hasMessageThat().contains("[2,3,3,6]");
      assertThrows(EffisegException.class, () -> Ops.channelCopy(ctx, x, -1, y, 0, 2, false));
      assertThrows(EffisegException.class, () -> Ops.channelCopy(ctx, x, 0, y, 0, 0, false));

      e = assertThrows(EffisegException.class, () -> Ops.channelCopy(ctx, x, 0, yPixels, 0, 4, false));
      assertThat(e.status()).isEqualTo(EffisegException.Status.SHAPE);
      assertThat(e).hasMessageThat().contains("[2,3,4,6]");
      e = assertThrows(EffisegException.class, () -> Ops.channelCopy(ctx, x, 0, yRank, 0, 4, false));
      assertThat(e).hasMessageThat().contains("rank");
      e = assertThrows(EffisegException.class, () -> Ops.channelCopy(ctx, x, 0, x, 0, 4, false));
      assertThat(e).hasMessageThat().contains("storage");
      assertThrows(EffisegException.class, () -> Ops.channelCopy(ctx, null, 0, y, 0, 4, false));
    }
  }
}
