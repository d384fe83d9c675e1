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
import org.effiseg.testing.GradCheck;
import org.effiseg.testing.Rand;
import org.effiseg.testing.Tolerance;
import org.effiseg.testing.TorchOracle;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Nearest upsampling (es_upsample_nearest_forward/backward) against PyTorch's
 * F.interpolate(mode="nearest", size=...) and against the index rule written out in Java.
 * Forward is a pure gather, so it must match bit for bit; backward sums dy in a different order
 * than PyTorch, so it is compared with a tolerance.
 */
@ExtendWith(NoNativeLeaks.class)
class UpsampleOpTest {
  /** (N, h, w, H, W, C): the decoder's ratios, non-integer ratios, identity, downsampling. */
  static Stream<Arguments> geometries() {
    return Stream.of(
        Arguments.of(2, 7, 7, 224, 224, 2), // 32x, the deepest decoder scale
        Arguments.of(1, 14, 14, 28, 28, 5), // exactly 2x
        Arguments.of(1, 13, 20, 20, 13, 3), // 13 -> 20 up and 20 -> 13 down, non-square
        Arguments.of(3, 7, 5, 23, 17, 1), // odd non-integer ratios, C = 1
        Arguments.of(1, 2, 3, 82, 123, 2), // rows where float rounding changes the source
        Arguments.of(1, 5, 3, 5, 3, 4), // identity
        Arguments.of(2, 9, 11, 4, 6, 2)); // pure downsampling: some sources are never read
  }

  static Stream<Arguments> backendsAndGeometries() {
    return Backends.all().flatMap(b -> geometries().map(g -> Arguments.of(prepend(b, g.get()))));
  }

  private static Object[] prepend(Object first, Object[] rest) {
    Object[] all = new Object[rest.length + 1];
    all[0] = first;
    System.arraycopy(rest, 0, all, 1, rest.length);
    return all;
  }

  /** PyTorch's nearest index for a target size (UpSample.h, nearest_idx), in float. */
  static int source(int dst, int in, int out) {
    if (out == in) {
      return dst;
    }
    if (out == 2 * in) {
      return dst >> 1;
    }
    float scale = (float) in / (float) out;
    return Math.min((int) Math.floor((float) dst * scale), in - 1);
  }

  /** y [N,H,W,C] gathered from x [N,h,w,C]. */
  static float[] referenceForward(float[] x, int n, int h, int w, int bh, int bw, int c) {
    float[] y = new float[n * bh * bw * c];
    for (int b = 0; b < n; b++) {
      for (int i = 0; i < bh; i++) {
        for (int j = 0; j < bw; j++) {
          int si = source(i, h, bh), sj = source(j, w, bw);
          for (int k = 0; k < c; k++) {
            y[((b * bh + i) * bw + j) * c + k] = x[((b * h + si) * w + sj) * c + k];
          }
        }
      }
    }
    return y;
  }

  /** dx [N,h,w,C] = sum of dy over the output pixels each source fed, in double. */
  static double[] referenceBackward(float[] dy, int n, int h, int w, int bh, int bw, int c) {
    double[] dx = new double[n * h * w * c];
    for (int b = 0; b < n; b++) {
      for (int i = 0; i < bh; i++) {
        for (int j = 0; j < bw; j++) {
          int si = source(i, h, bh), sj = source(j, w, bw);
          for (int k = 0; k < c; k++) {
            dx[((b * h + si) * w + sj) * c + k] += dy[((b * bh + i) * bw + j) * c + k];
          }
        }
      }
    }
    return dx;
  }

  @Test
  void indexRuleIsPyTorchsFloatFormula() {
    // 7 -> 224 is exactly 32x; 13 -> 20 a non-integer ratio.
    assertThat(source(223, 7, 224)).isEqualTo(6);
    assertThat(source(31, 7, 224)).isEqualTo(0);
    assertThat(source(32, 7, 224)).isEqualTo(1);
    int[] rows = new int[20];
    for (int d = 0; d < 20; d++) {
      rows[d] = source(d, 13, 20);
    }
    assertThat(rows)
        .asList()
        .containsExactly(0, 0, 1, 1, 2, 3, 3, 4, 5, 5, 6, 7, 7, 8, 9, 9, 10, 11, 11, 12)
        .inOrder();
    // Float, not exact rational arithmetic: 41 * (2/82) is exactly 1, but 2f/82f rounds down
    // and floorf gives 0; PyTorch does the same (the 2 -> 82 case below checks against it).
    assertThat(source(41, 2, 82)).isEqualTo(0);
    assertThat(source(82, 3, 123)).isEqualTo(1);
  }

  @ParameterizedTest
  @MethodSource("backendsAndGeometries")
  void forwardAndBackwardMatchPyTorch(Backend backend, int n, int h, int w, int bh, int bw, int c) {
    Rand rand = new Rand(11L * h + w);
    float[] x = rand.normal(n * h * w * c, 1);
    float[] dy = rand.normal(n * bh * bw * c, 1);
    try (Context ctx = Backends.open(backend);
        Tensor tx = ctx.tensor(x, n, h, w, c);
        Tensor ty = ctx.tensor(n, bh, bw, c);
        Tensor tdy = ctx.tensor(dy, n, bh, bw, c);
        Tensor tdx = ctx.tensor(n, h, w, c);
        TorchOracle torch = new TorchOracle()) {
      Ops.upsampleNearestForward(ctx, tx, ty, false);
      Ops.upsampleNearestBackward(ctx, tdy, tdx);
      float[] y = ty.read();
      float[] dx = tdx.read();

      Tolerance.assertClose("forward vs index rule", y, referenceForward(x, n, h, w, bh, bw, c), 0, 0);
      // The double sum rounded once: within half an ulp, plus slack for tiny sums.
      Tolerance.assertClose(
          "backward vs double reference", dx, referenceBackward(dy, n, h, w, bh, bw, c), 1e-6, 1e-6);

      NDArray tx4 = torch.fromNhwc(x, n, h, w, c);
      tx4.setRequiresGradient(true);
      try (GradientCollector gc = TorchOracle.record()) {
        NDArray up = tx4.getNDArrayInternal().interpolation(new long[] {bh, bw}, 0, false);
        Tolerance.assertClose("forward vs PyTorch", y, TorchOracle.toNhwc(up), 0, 0);
        gc.backward(up.mul(torch.fromNhwc(dy, n, bh, bw, c)).sum());
      }
      // PyTorch sums the k = ceil(H/h)*ceil(W/w) terms of each source pixel in float, in its own
      // order: the error grows with k times the float ulp of partial sums of order sqrt(k) (k =
      // 1024 at 7 -> 224 gives errors ~1e-4 on sums that cancel to ~0.5). The double reference
      // above pins the kernel itself to half an ulp.
      int fanIn = ((bh + h - 1) / h) * ((bw + w - 1) / w);
      Tolerance.assertClose(
          "backward vs PyTorch autograd",
          dx,
          TorchOracle.toNhwc(tx4.getGradient()),
          1e-6 * fanIn,
          1e-5);
    }
  }

  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void accumulateAddsToWhatIsThere(Backend backend) {
    Rand rand = new Rand(3);
    int n = 2, h = 3, w = 5, bh = 7, bw = 10, c = 3;
    float[] x = rand.normal(n * h * w * c, 1);
    float[] y0 = rand.normal(n * bh * bw * c, 1);
    try (Context ctx = Backends.open(backend);
        Tensor tx = ctx.tensor(x, n, h, w, c);
        Tensor ty = ctx.tensor(y0, n, bh, bw, c)) {
      Ops.upsampleNearestForward(ctx, tx, ty, true);
      float[] up = referenceForward(x, n, h, w, bh, bw, c);
      float[] expected = new float[up.length];
      for (int i = 0; i < up.length; i++) {
        expected[i] = y0[i] + up[i];
      }
      Tolerance.assertClose("y += up(x)", ty.read(), expected, 0, 0);
      // the decoder's sum of scales: a second scale added on top
      Ops.upsampleNearestForward(ctx, tx, ty, true);
      for (int i = 0; i < up.length; i++) {
        expected[i] += up[i];
      }
      Tolerance.assertClose("y += up(x) twice", ty.read(), expected, 0, 0);
    }
  }

  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void backwardMatchesFiniteDifferences(Backend backend) {
    Rand rand = new Rand(5);
    int n = 1, h = 3, w = 4, bh = 7, bw = 9, c = 2;
    float[] x = rand.normal(n * h * w * c, 1);
    float[] r = rand.normal(n * bh * bw * c, 1);
    try (Context ctx = Backends.open(backend);
        Tensor tx = ctx.tensor(x, n, h, w, c);
        Tensor ty = ctx.tensor(n, bh, bw, c);
        Tensor tr = ctx.tensor(r, n, bh, bw, c);
        Tensor tdx = ctx.tensor(n, h, w, c)) {
      Ops.upsampleNearestBackward(ctx, tr, tdx);
      float[] dx = tdx.read();
      // L = sum(up(x) * r) is linear in x: central differences carry only the rounding of L
      // (float outputs summed in double), ~1e-6 / h, hence the default tolerances hold easily.
      GradCheck.check(
          "upsample",
          x,
          dx,
          () -> {
            tx.write(x);
            Ops.upsampleNearestForward(ctx, tx, ty, false);
            return GradCheck.dot(ty.read(), r);
          },
          1e-2,
          2e-3,
          2e-2,
          x.length,
          1);
    }
  }

  @Test
  void backwardIsIndependentOfThreadCount() {
    Rand rand = new Rand(9);
    int n = 2, h = 7, w = 7, bh = 56, bw = 56, c = 8;
    float[] dy = rand.normal(n * bh * bw * c, 1);
    float[][] results = new float[2][];
    for (int threads = 1; threads <= 2; threads++) {
      try (Context ctx = Context.cpu(threads);
          Tensor tdy = ctx.tensor(dy, n, bh, bw, c);
          Tensor tdx = ctx.tensor(n, h, w, c)) {
        Ops.upsampleNearestBackward(ctx, tdy, tdx);
        results[threads - 1] = tdx.read();
      }
    }
    assertThat(results[1]).usingExactEquality().containsExactly(results[0]).inOrder();
  }

  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void badShapesAreRejectedWithTheirShapes(Backend backend) {
    try (Context ctx = Backends.open(backend);
        Tensor x = ctx.tensor(2, 7, 7, 4);
        Tensor yBatch = ctx.tensor(3, 14, 14, 4);
        Tensor yChannels = ctx.tensor(2, 14, 14, 5);
        Tensor rank3 = ctx.tensor(2, 14, 14)) {
      EffisegException e =
          assertThrows(EffisegException.class, () -> Ops.upsampleNearestForward(ctx, x, yBatch, false));
      assertThat(e.status()).isEqualTo(EffisegException.Status.SHAPE);
      assertThat(e).hasMessageThat().contains("es_upsample_nearest_forward");
      assertThat(e).hasMessageThat().contains("[2,7,7,4]");
      assertThat(e).hasMessageThat().contains("[3,14,14,4]");

      e = assertThrows(EffisegException.class, () -> Ops.upsampleNearestBackward(ctx, yChannels, x));
      assertThat(e.status()).isEqualTo(EffisegException.Status.SHAPE);
      assertThat(e).hasMessageThat().contains("es_upsample_nearest_backward");
      assertThat(e).hasMessageThat().contains("[2,14,14,5]");

      e = assertThrows(EffisegException.class, () -> Ops.upsampleNearestForward(ctx, x, rank3, false));
      assertThat(e.status()).isEqualTo(EffisegException.Status.SHAPE);
      assertThat(e).hasMessageThat().contains("[2,14,14]");

      assertThrows(EffisegException.class, () -> Ops.upsampleNearestForward(ctx, x, null, false));
      try (Tensor alias = x.view(0, 2, 7, 7, 4)) {
        e = assertThrows(EffisegException.class, () -> Ops.upsampleNearestForward(ctx, x, alias, true));
        assertThat(e).hasMessageThat().contains("storage");
      }
    }
  }
}
