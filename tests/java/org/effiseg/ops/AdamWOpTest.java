package org.effiseg.ops;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.effiseg.nativeapi.Backend;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.EffisegException;
import org.effiseg.nativeapi.Ops;
import org.effiseg.nativeapi.Tensor;
import org.effiseg.testing.NoNativeLeaks;
import org.effiseg.testing.Backends;
import org.effiseg.testing.Rand;
import org.effiseg.testing.Tolerance;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * es_adamw_step against torch.optim.AdamW (CPU, single-tensor path) over several steps.
 *
 * <p>DJL's AdamW differs from PyTorch's (eps is not bias-corrected the same way), so PyTorch's
 * update is written out here twice: once in double precision from its formulas (the kernel
 * must stay within float rounding of it), and once operation by operation in float with
 * PyTorch's roundings (param.mul_, exp_avg.lerp_ as one fused multiply-add, mul_/addcmul_,
 * sqrt/div/add_, addcdiv_), which the CPU kernel must reproduce bit for bit: Java float
 * arithmetic is IEEE single precision without contraction, like ATen's vectorised kernels.
 */
@ExtendWith(NoNativeLeaks.class)
class AdamWOpTest {
  /** Hyper-parameters as the ABI takes them. */
  record Hyper(float lr, float beta1, float beta2, float eps, float weightDecay) {}

  /** PyTorch's step in float, operation by operation (torch/optim/adam(w).py, ATen kernels). */
  static void torchFloatStep(Hyper o, long step, float[] p, float[] g, float[] m, float[] v) {
    double lr = o.lr(), beta1 = o.beta1(), beta2 = o.beta2();
    float decay = (float) (1 - lr * o.weightDecay());
    float weight = (float) (1 - beta1);
    double bc1 = 1 - Math.pow(beta1, step), bc2 = 1 - Math.pow(beta2, step);
    float negStepSize = (float) -(lr / bc1);
    float bc2Sqrt = (float) Math.sqrt(bc2);
    float c2 = (float) (1 - beta2);
    for (int i = 0; i < p.length; i++) {
      p[i] = p[i] * decay; // param.mul_(1 - lr * wd)
      m[i] = Math.abs(weight) < 0.5f // exp_avg.lerp_(grad, 1 - beta1), ATen's lerp_vec
          ? Math.fma(weight, g[i] - m[i], m[i])
          : Math.fma(weight - 1f, g[i] - m[i], g[i]);
      v[i] = v[i] * o.beta2(); // exp_avg_sq.mul_(beta2)
      v[i] = v[i] + (c2 * g[i]) * g[i]; // .addcmul_(grad, grad, value=1 - beta2)
      float denom = (float) Math.sqrt(v[i]) / bc2Sqrt + o.eps(); // (sqrt() / bc2_sqrt).add_(eps)
      p[i] = p[i] + (negStepSize * m[i]) / denom; // param.addcdiv_(exp_avg, denom, -step_size)
    }
  }

  /** The same update in double precision, from the formulas. */
  static void doubleStep(Hyper o, long step, double[] p, float[] g, double[] m, double[] v) {
    double lr = o.lr(), b1 = o.beta1(), b2 = o.beta2();
    for (int i = 0; i < p.length; i++) {
      p[i] -= lr * o.weightDecay() * p[i];
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * (double) g[i];
      double mHat = m[i] / (1 - Math.pow(b1, step));
      double denom = Math.sqrt(v[i]) / Math.sqrt(1 - Math.pow(b2, step)) + o.eps();
      p[i] -= lr * mHat / denom;
    }
  }

  private static void runSteps(Backend backend, Hyper o, int n, int steps, long seed) {
    Rand rand = new Rand(seed);
    float[] p0 = rand.normal(n, 1);
    float[] pf = p0.clone(), mf = new float[n], vf = new float[n];
    double[] pd = new double[n], md = new double[n], vd = new double[n];
    for (int i = 0; i < n; i++) {
      pd[i] = p0[i];
    }
    try (Context ctx = Backends.open(backend);
        Tensor params = ctx.tensor(p0, n);
        Tensor grads = ctx.tensor(n);
        Tensor expAvg = ctx.tensor(n);
        Tensor expAvgSq = ctx.tensor(n)) {
      for (int step = 1; step <= steps; step++) {
        // gradients of mixed scales, including exact zeros (v = 0 at step 1: denom = eps)
        float[] g = rand.normal(n, step % 2 == 0 ? 1e-3 : 1);
        for (int i = 0; i < n; i += 17) {
          g[i] = 0f;
        }
        grads.write(g);
        Ops.adamwStep(ctx, params, grads, expAvg, expAvgSq, o.lr(), o.beta1(), o.beta2(), o.eps(),
            o.weightDecay(), step);
        torchFloatStep(o, step, pf, g, mf, vf);
        doubleStep(o, step, pd, g, md, vd);

        String at = "step " + step + " " + o;
        // Float rounding of each operation, compounded over steps: 1e-6 relative. Absolute
        // floors where values can cancel: parameters passing near zero (1e-7), and exp_avg,
        // a sum of terms 0.1 * g with |g| up to ~4 that may cancel to ~1e-4 (a few float ulps
        // of 0.4: 1e-7). exp_avg_sq is a sum of squares and cannot cancel.
        Tolerance.assertClose(at + " params vs double", params.read(), pd, 1e-7, 1e-6);
        Tolerance.assertClose(at + " exp_avg vs double", expAvg.read(), md, 1e-7, 1e-5);
        Tolerance.assertClose(at + " exp_avg_sq vs double", expAvgSq.read(), vd, 1e-12, 1e-5);
        if (backend == Backend.CPU) {
          Tolerance.assertClose(at + " params vs PyTorch's float ops", params.read(), pf, 0, 0);
          Tolerance.assertClose(at + " exp_avg vs PyTorch's float ops", expAvg.read(), mf, 0, 0);
          Tolerance.assertClose(at + " exp_avg_sq vs PyTorch's float ops", expAvgSq.read(), vf, 0, 0);
        }
      }
    }
  }

  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void defaultsWithWeightDecayOverSeveralSteps(Backend backend) {
    // 1003: not a multiple of the vector width, so the scalar tail runs too
    runSteps(backend, new Hyper(1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f), 1003, 6, 1);
  }

  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void largeBlockRunsInParallel(Backend backend) {
    runSteps(backend, new Hyper(3e-4f, 0.9f, 0.999f, 1e-8f, 0.05f), 70_001, 3, 2);
  }

  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void noWeightDecayAndSmallBeta1(Backend backend) {
    // beta1 = 0.3: 1 - beta1 >= 0.5 takes lerp's other branch (end - (end - start) * (1 - w))
    runSteps(backend, new Hyper(1e-2f, 0.3f, 0.99f, 1e-6f, 0f), 257, 4, 3);
  }

  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void firstStepMovesEachParameterByAboutLr(Backend backend) {
    // Hand-computed: at step 1, m_hat = g and v_hat = g², so the update is lr * g/(|g| + eps):
    // lr * sign(g) for |g| >> eps, after decay p * (1 - lr * wd).
    float lr = 0.01f, wd = 0.1f;
    float[] p = {1f, -2f, 0.5f, 3f};
    float[] g = {0.5f, -4f, 2e-3f, 0f};
    try (Context ctx = Backends.open(backend);
        Tensor tp = ctx.tensor(p, 4);
        Tensor tg = ctx.tensor(g, 4);
        Tensor m = ctx.tensor(4);
        Tensor v = ctx.tensor(4)) {
      Ops.adamwStep(ctx, tp, tg, m, v, lr, 0.9f, 0.999f, 1e-8f, wd, 1);
      double decay = 1 - (double) lr * wd;
      double[] expected = {
        1 * decay - lr, -2 * decay + lr, 0.5 * decay - lr * 2e-3 / (2e-3 + 1e-8), 3 * decay
      };
      Tolerance.assertClose("one step", tp.read(), expected, 1e-7, 1e-6);
    }
  }

  @Test
  void badInputIsRejected() {
    try (Context ctx = Context.cpu(1);
        Tensor p = ctx.tensor(10);
        Tensor g = ctx.tensor(10);
        Tensor m = ctx.tensor(10);
        Tensor v9 = ctx.tensor(9);
        Tensor v = ctx.tensor(2, 5)) {
      EffisegException e =
          assertThrows(EffisegException.class, () -> Ops.adamwStep(ctx, p, g, m, v9, 1e-3f, 0.9f, 0.999f, 1e-8f, 0, 1));
      assertThat(e.status()).isEqualTo(EffisegException.Status.SHAPE);
      assertThat(e).hasMessageThat().contains("es_adamw_step");
      assertThat(e).hasMessageThat().contains("exp_avg_sq [9]");
      // same element count in another shape is fine (flat blocks)
      Ops.adamwStep(ctx, p, g, m, v, 1e-3f, 0.9f, 0.999f, 1e-8f, 0, 1);
      e = assertThrows(EffisegException.class, () -> Ops.adamwStep(ctx, p, g, m, v, 1e-3f, 0.9f, 0.999f, 1e-8f, 0, 0));
      assertThat(e.status()).isEqualTo(EffisegException.Status.INVALID_ARGUMENT);
      assertThat(e).hasMessageThat().contains("step");
      e = assertThrows(EffisegException.class, () -> Ops.adamwStep(ctx, p, g, m, v, 1e-3f, 1f, 0.999f, 1e-8f, 0, 1));
      assertThat(e).hasMessageThat().contains("betas");
      assertThrows(EffisegException.class, () -> Ops.adamwStep(ctx, p, null, m, v, 1e-3f, 0.9f, 0.999f, 1e-8f, 0, 1));
    }
  }
}
