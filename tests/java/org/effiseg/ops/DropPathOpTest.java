package org.effiseg.ops;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
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
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Stochastic depth (es_drop_path_*): sample n is kept iff u(seed, n) >= rate, kept samples are
 * scaled by 1/(1 - rate), dropped ones are zero; the backward applies the same mask.
 */
@ExtendWith(NoNativeLeaks.class)
class DropPathOpTest {
  /** Which samples a forward pass of all-ones kept. */
  private static boolean[] keptSamples(Context ctx, int n, int perSample, float rate, long seed) {
    float[] ones = new float[n * perSample];
    java.util.Arrays.fill(ones, 1f);
    try (Tensor x = ctx.tensor(ones, n, perSample);
        Tensor y = ctx.tensor(n, perSample)) {
      Ops.dropPathForward(ctx, x, y, rate, seed, true);
      float[] out = y.read();
      boolean[] kept = new boolean[n];
      for (int i = 0; i < n; i++) {
        kept[i] = out[i * perSample] != 0;
      }
      return kept;
    }
  }

  /**
   * Forward and backward against the definition: the mask from es::drop_path_uniform (ported
   * to Java in NormRef, so the CUDA backend and the Java side agree on it), scale 1/(1-rate)
   * exactly as timm multiplies (x * (1 / keep_prob)), zeros elsewhere. Shapes: odd,
   * non-square, batch 1, and one large enough to run in parallel.
   */
  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void forwardAndBackwardFollowTheMask(Backend backend) {
    long[][] shapes = {{7, 3, 5, 2}, {1, 4, 4, 3}, {16, 24, 20, 9}};
    float rate = 0.3f;
    long seed = 0x5EEDL;
    for (long[] shape : shapes) {
      int size = Rand.size(shape);
      int n = (int) shape[0];
      int per = size / n;
      Rand rand = new Rand(13);
      float[] x = rand.normal(size, 1);
      float[] dy = rand.normal(size, 1);
      try (Context ctx = Backends.open(backend)) {
        Tensor tx = ctx.tensor(x, shape);
        Tensor ty = ctx.tensor(shape);
        Tensor tdy = ctx.tensor(dy, shape);
        Tensor tdx = ctx.tensor(shape);
        Ops.dropPathForward(ctx, tx, ty, rate, seed, true);
        Ops.dropPathBackward(ctx, tdy, tdx, rate, seed, true);
        float[] y = ty.read();
        float[] dx = tdx.read();
        float scale = 1f / (1f - rate);
        for (int b = 0; b < n; b++) {
          boolean keep = NormRef.dropPathUniform(seed, b) >= rate;
          for (int i = b * per; i < (b + 1) * per; i++) {
            assertThat(y[i]).isEqualTo(keep ? x[i] * scale : 0f);
            assertThat(dx[i]).isEqualTo(keep ? dy[i] * scale : 0f);
          }
        }
      }
    }
  }

  /** Over many seeds the keep fraction is 1 - rate (binomial: 20000 draws, 5 sigma). */
  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void keepFractionMatchesTheRate(Backend backend) {
    try (Context ctx = Backends.open(backend)) {
      for (float rate : new float[] {0.2f, 0.5f}) {
        int kept = 0;
        int draws = 0;
        for (long seed = 1; seed <= 250; seed++) {
          for (boolean k : keptSamples(ctx, 80, 2, rate, seed * 7919)) {
            kept += k ? 1 : 0;
            draws++;
          }
        }
        double p = 1 - rate;
        double sigma = Math.sqrt(draws * p * (1 - p));
        assertThat(Math.abs(kept - draws * p)).isAtMost(5 * sigma);
      }
    }
  }

  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void sameSeedSameMaskOtherSeedOtherMask(Backend backend) {
    try (Context ctx = Backends.open(backend)) {
      boolean[] a = keptSamples(ctx, 64, 3, 0.5f, 42);
      boolean[] b = keptSamples(ctx, 64, 3, 0.5f, 42);
      boolean[] c = keptSamples(ctx, 64, 3, 0.5f, 43);
      assertThat(b).isEqualTo(a);
      assertThat(c).isNotEqualTo(a);
      // The mask of sample n does not depend on the batch size or the sample size.
      boolean[] longer = keptSamples(ctx, 100, 5, 0.5f, 42);
      assertThat(java.util.Arrays.copyOf(longer, 64)).isEqualTo(a);
    }
  }

  /** Not training, or rate 0: the identity. */
  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void identityOutsideTraining(Backend backend) {
    float[] x = new Rand(17).normal(60, 1);
    try (Context ctx = Backends.open(backend)) {
      Tensor tx = ctx.tensor(x, 4, 3, 5, 1);
      Tensor ty = ctx.tensor(4, 3, 5, 1);
      Ops.dropPathForward(ctx, tx, ty, 0.5f, 1, false);
      assertThat(ty.read()).usingExactEquality().containsExactly(x).inOrder();
      Ops.dropPathBackward(ctx, tx, ty, 0f, 1, true);
      assertThat(ty.read()).usingExactEquality().containsExactly(x).inOrder();
    }
  }

  /**
   * The scaling against PyTorch (timm's drop_path): x * (mask / keep_prob) with our mask, so
   * the kept samples agree to the bit (dropped ones are +0 here, x * 0 = -0 in torch for
   * negative x: equal as numbers).
   */
  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void matchesPyTorchGivenTheMask(Backend backend) {
    int n = 6;
    int per = 35;
    float rate = 0.2f;
    long seed = 99;
    float[] x = new Rand(19).normal(n * per, 1);
    float[] mask = new float[n];
    for (int b = 0; b < n; b++) {
      mask[b] = NormRef.dropPathUniform(seed, b) >= rate ? 1f : 0f;
    }
    try (Context ctx = Backends.open(backend);
        TorchOracle torch = new TorchOracle()) {
      Tensor tx = ctx.tensor(x, n, 5, 7, 1);
      Tensor ty = ctx.tensor(n, 5, 7, 1);
      Ops.dropPathForward(ctx, tx, ty, rate, seed, true);
      NDArray randomTensor = torch.array(mask, n, 1).div(1f - rate);
      float[] expected = torch.array(x, n, per).mul(randomTensor).toFloatArray();
      Tolerance.assertClose("drop path vs torch", ty.read(), expected, 0, 0);
    }
  }

  @Test
  void badInputIsAnException() {
    try (Context ctx = Context.cpu(1)) {
      Tensor x = ctx.tensor(2, 3);
      Tensor y = ctx.tensor(2, 4);
      EffisegException e =
          assertThrows(EffisegException.class, () -> Ops.dropPathForward(ctx, x, y, 0.2f, 1, true));
      assertThat(e.status()).isEqualTo(EffisegException.Status.SHAPE);
      assertThat(e).hasMessageThat().contains("es_drop_path_forward");
      e = assertThrows(EffisegException.class, () -> Ops.dropPathBackward(ctx, x, x, 1f, 1, true));
      assertThat(e.status()).isEqualTo(EffisegException.Status.INVALID_ARGUMENT);
      assertThat(e).hasMessageThat().contains("drop rate");
      e = assertThrows(EffisegException.class, () -> Ops.dropPathForward(ctx, x, x, -0.1f, 1, true));
      assertThat(e).hasMessageThat().contains("drop rate");
    }
  }
}
