package org.effiseg.ops;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.training.GradientCollector;
import java.util.stream.Stream;
import org.effiseg.nativeapi.Activation;
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

/** es_activation_forward / es_activation_backward: ReLU, swish, sigmoid and the identity. */
@ExtendWith(NoNativeLeaks.class)
class ActivationOpTest {
  static Stream<Arguments> backendsAndActivations() {
    return Backends.all()
        .flatMap(b -> Stream.of(Activation.values()).map(a -> Arguments.of(b, a)));
  }

  /**
   * Forward and backward against double-precision formulas. The kernels use a polynomial exp
   * (about 1 ulp) and one division, so values agree to a few float ulps: rel 1e-6. The
   * derivatives lose absolute, not relative, precision where they cross zero (swish' at
   * x = -1.278 is s * (1 + x(1-s)), a difference of O(1) terms): abs 1e-7 * |dy|.
   */
  @ParameterizedTest
  @MethodSource("backendsAndActivations")
  void matchesDoublePrecisionReference(Backend backend, Activation act) {
    long[] shape = {2, 7, 5, 3}; // odd, non-square
    int n = Rand.size(shape);
    Rand rand = new Rand(11);
    float[] x = rand.uniform(n, -12, 12);
    float[] dy = rand.normal(n, 1);
    try (Context ctx = Backends.open(backend)) {
      Tensor tx = ctx.tensor(x, shape);
      Tensor ty = ctx.tensor(shape);
      Tensor tdy = ctx.tensor(dy, shape);
      Tensor tdx = ctx.tensor(shape);
      Ops.activationForward(ctx, act, tx, ty);
      Ops.activationBackward(ctx, act, tx, tdy, tdx);
      double[] y = new double[n];
      double[] dx = new double[n];
      for (int i = 0; i < n; i++) {
        y[i] = NormRef.act(act, x[i]);
        dx[i] = dy[i] * NormRef.actGrad(act, x[i]);
      }
      Tolerance.assertClose(act + " forward", ty.read(), y, 1e-30, 1e-6);
      Tolerance.assertClose(act + " backward", tdx.read(), dx, 4e-7, 1e-6);
    }
  }

  /**
   * Finite differences of the kernel's own forward (float32, h = 1e-2: GradCheck's default
   * tolerances). ReLU is checked away from its kink, where a difference quotient is wrong.
   */
  @ParameterizedTest
  @MethodSource("backendsAndActivations")
  void backwardMatchesFiniteDifferences(Backend backend, Activation act) {
    long[] shape = {1, 3, 4, 5}; // batch 1
    int n = Rand.size(shape);
    Rand rand = new Rand(5);
    float[] x = rand.uniform(n, -4, 4);
    if (act == Activation.RELU) {
      for (int i = 0; i < n; i++) {
        x[i] += Math.signum(x[i]) * 0.05f; // |x| >= 0.05 > h
      }
    }
    float[] r = rand.normal(n, 1);
    try (Context ctx = Backends.open(backend)) {
      Tensor tx = ctx.tensor(x, shape);
      Tensor ty = ctx.tensor(shape);
      Tensor tr = ctx.tensor(r, shape);
      Tensor tdx = ctx.tensor(shape);
      Ops.activationBackward(ctx, act, tx, tr, tdx);
      float[] dx = tdx.read();
      GradCheck.check(
          act + " dx",
          x,
          dx,
          () -> {
            tx.write(x);
            Ops.activationForward(ctx, act, tx, ty);
            return GradCheck.dot(ty.read(), r);
          },
          1e-2,
          2e-3,
          2e-2,
          n,
          1);
    }
  }

  /** Large |x| never overflows into inf/NaN; the saturated values are exact. */
  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void saturatesSafelyForLargeInputs(Backend backend) {
    float[] x = {-1e30f, -1000f, -100f, -88.5f, -87f, 30f, 88.5f, 100f, 1000f, 1e30f, 0f, -0f};
    float[] ones = new float[x.length];
    java.util.Arrays.fill(ones, 1f);
    try (Context ctx = Backends.open(backend)) {
      Tensor tx = ctx.tensor(x, x.length);
      Tensor t1 = ctx.tensor(ones, x.length);
      Tensor ty = ctx.tensor(x.length);
      Tensor tdx = ctx.tensor(x.length);
      for (Activation act : new Activation[] {Activation.SWISH, Activation.SIGMOID}) {
        Ops.activationForward(ctx, act, tx, ty);
        Ops.activationBackward(ctx, act, tx, t1, tdx);
        float[] y = ty.read();
        float[] dx = tdx.read();
        for (int i = 0; i < x.length; i++) {
          assertThat(Float.isFinite(y[i])).isTrue();
          assertThat(Float.isFinite(dx[i])).isTrue();
          // Exact up to exp(-87) ~ 1.6e-38 (the kernel's exp clamps below -87).
          double expected = NormRef.act(act, x[i]);
          assertThat(Math.abs(y[i] - expected)).isAtMost(Math.abs(x[i]) * 2e-38 + 1e-7 * Math.abs(expected));
          assertThat(Math.abs(dx[i] - NormRef.actGrad(act, x[i]))).isAtMost(1e-7);
        }
        if (act == Activation.SIGMOID) {
          assertThat(y[9]).isEqualTo(1f);
          assertThat(y[10]).isEqualTo(0.5f);
        } else {
          assertThat(y[9]).isEqualTo(1e30f);
          assertThat(y[10]).isEqualTo(0f);
        }
      }
    }
  }

  /**
   * Forward and autograd gradients against PyTorch (relu, sigmoid, x * sigmoid(x)). Both sides
   * are float32 with ~1-ulp exp: rel 1e-5; gradients near a zero crossing: abs 1e-6.
   */
  @ParameterizedTest
  @MethodSource("backendsAndActivations")
  void matchesPyTorch(Backend backend, Activation act) {
    long[] shape = {2, 5, 3, 6};
    int n = Rand.size(shape);
    Rand rand = new Rand(3);
    float[] x = rand.normal(n, 4);
    float[] r = rand.normal(n, 1);
    try (Context ctx = Backends.open(backend);
        TorchOracle torch = new TorchOracle()) {
      Tensor tx = ctx.tensor(x, shape);
      Tensor ty = ctx.tensor(shape);
      Tensor tr = ctx.tensor(r, shape);
      Tensor tdx = ctx.tensor(shape);
      Ops.activationForward(ctx, act, tx, ty);
      Ops.activationBackward(ctx, act, tx, tr, tdx);

      NDArray px = torch.array(x, shape);
      px.setRequiresGradient(true);
      try (GradientCollector gc = TorchOracle.record()) {
        NDArray py = NormRef.torchAct(act, px);
        Tolerance.assertClose(act + " forward vs torch", ty.read(), py.toFloatArray(), 1e-6, 1e-5);
        gc.backward(py.mul(torch.array(r, shape)).sum());
      }
      Tolerance.assertClose(
          act + " backward vs torch", tdx.read(), px.getGradient().toFloatArray(), 1e-6, 1e-5);
    }
  }

  @Test
  void inPlaceForwardAndBackwardAreAllowed() {
    float[] x = new Rand(9).uniform(40, -3, 3);
    try (Context ctx = Context.cpu(2)) {
      Tensor a = ctx.tensor(x, 40);
      Tensor y = ctx.tensor(40);
      Ops.activationForward(ctx, Activation.SWISH, a, y);
      Ops.activationForward(ctx, Activation.SWISH, a, a);
      assertThat(a.read()).usingExactEquality().containsExactly(y.read()).inOrder();
    }
  }

  @Test
  void badInputIsAnException() {
    try (Context ctx = Context.cpu(1)) {
      Tensor x = ctx.tensor(2, 3, 4, 5);
      Tensor y = ctx.tensor(2, 3, 4, 6);
      EffisegException e =
          assertThrows(
              EffisegException.class, () -> Ops.activationForward(ctx, Activation.SWISH, x, y));
      assertThat(e.status()).isEqualTo(EffisegException.Status.SHAPE);
      assertThat(e).hasMessageThat().contains("es_activation_forward");
      assertThat(e).hasMessageThat().contains("[2,3,4,6]");
      e =
          assertThrows(
              EffisegException.class,
              () -> Ops.activationBackward(ctx, Activation.RELU, x, x, null));
      assertThat(e.status()).isEqualTo(EffisegException.Status.NULL_HANDLE);
      assertThat(e).hasMessageThat().contains("dx");
    }
  }
}
