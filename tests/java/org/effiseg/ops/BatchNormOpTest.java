package org.effiseg.ops;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.norm.BatchNorm;
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

/**
 * es_batchnorm_forward / es_batchnorm_backward, plain and fused with an activation, in training
 * mode (batch statistics, running-statistics update with PyTorch's momentum convention) and eval
 * mode (running statistics as constants).
 */
@ExtendWith(NoNativeLeaks.class)
class BatchNormOpTest {
  /** The encoder's settings (the decoder uses PyTorch's 1e-5 / 0.1, see matchesPyTorch). */
  private static final float EPS = 1e-3f;

  private static final float MOMENTUM = 0.01f;

  static Stream<Arguments> backendsAndActivations() {
    return Backends.all()
        .flatMap(b -> Stream.of(Activation.values()).map(a -> Arguments.of(b, a)));
  }

  static Stream<Arguments> backendsActivationsModes() {
    return backendsAndActivations()
        .flatMap(
            args ->
                Stream.of(true, false).map(t -> Arguments.of(args.get()[0], args.get()[1], t)));
  }

  /** As {@link #backendsActivationsModes}, without ReLU (no difference quotient across its kink). */
  static Stream<Arguments> backendsSmoothActivationsModes() {
    return backendsActivationsModes().filter(args -> args.get()[1] != Activation.RELU);
  }

  /** Inputs of one batch-norm case: NHWC x with per-channel offsets and spreads. */
  private static final class Case {
    final long[] shape;
    final int rows;
    final int c;
    final float[] x;
    final float[] gamma;
    final float[] beta;
    final float[] runMean;
    final float[] runVar;
    final float[] dy;

    Case(long seed, long... shape) {
      this.shape = shape;
      c = (int) shape[shape.length - 1];
      rows = Rand.size(shape) / c;
      Rand rand = new Rand(seed);
      x = rand.normal(rows * c, 1);
      float[] offset = rand.uniform(c, -3, 3);
      float[] spread = rand.uniform(c, 0.3, 3);
      for (int i = 0; i < x.length; i++) {
        x[i] = x[i] * spread[i % c] + offset[i % c];
      }
      gamma = rand.uniform(c, 0.5, 1.5);
      beta = rand.uniform(c, -0.5, 0.5);
      runMean = rand.uniform(c, -1, 1);
      runVar = rand.uniform(c, 0.5, 2);
      dy = rand.normal(rows * c, 1);
    }
  }

  /** Native forward (+ backward): outputs and the updated running statistics. */
  private static final class Result {
    float[] y;
    float[] saveMean;
    float[] saveInvstd;
    float[] runMean;
    float[] runVar;
    float[] dx;
    float[] dgamma;
    float[] dbeta;
  }

  private static Result run(
      Context ctx, Case k, boolean training, float momentum, float eps, Activation act) {
    Tensor x = ctx.tensor(k.x, k.shape);
    Tensor gamma = ctx.tensor(k.gamma, k.c);
    Tensor beta = ctx.tensor(k.beta, k.c);
    Tensor rm = ctx.tensor(k.runMean, k.c);
    Tensor rv = ctx.tensor(k.runVar, k.c);
    Tensor y = ctx.tensor(k.shape);
    Tensor sm = ctx.tensor(k.c);
    Tensor si = ctx.tensor(k.c);
    Ops.batchnormForward(ctx, x, gamma, beta, rm, rv, y, sm, si, training, momentum, eps, act);
    Tensor dy = ctx.tensor(k.dy, k.shape);
    Tensor dx = ctx.tensor(k.shape);
    Tensor dgamma = ctx.tensor(k.c);
    Tensor dbeta = ctx.tensor(k.c);
    Ops.batchnormBackward(ctx, x, gamma, beta, dy, sm, si, dx, dgamma, dbeta, training, act);
    Result r = new Result();
    r.y = y.read();
    r.saveMean = sm.read();
    r.saveInvstd = si.read();
    r.runMean = rm.read();
    r.runVar = rv.read();
    r.dx = dx.read();
    r.dgamma = dgamma.read();
    r.dbeta = dbeta.read();
    return r;
  }

  /**
   * Channel counts of the network's widths, whose per-channel sums the CPU kernels keep in
   * registers in slices of 64, 48, 32, 16 and 8 channels (avx512; halves of those on avx2,
   * quarters on the portable path): 16, 24 = 16 + 8, 72 = 64 + 8, 120 = 64 + 48 + 8; over
   * more rows than one 64-row chunk, and (24 channels, 4900 rows) more than one block of rows.
   */
  private static long[][] withWideShapes(long[][] small) {
    long[][] wide = {{2, 17, 19, 16}, {1, 70, 70, 24}, {1, 9, 40, 72}, {2, 3, 50, 120}};
    long[][] all = java.util.Arrays.copyOf(small, small.length + wide.length);
    System.arraycopy(wide, 0, all, small.length, wide.length);
    return all;
  }

  /**
   * Training forward against double-precision statistics. The kernel sums in float chunks of
   * 64 rows into double accumulators, then rounds mean and invstd to float: mean to within
   * 1e-6 absolute (data of order 1-5), invstd to a few ulps (rel 5e-6). y is then within a
   * few ulps of its O(1) magnitude: abs 1e-5.
   */
  @ParameterizedTest
  @MethodSource("backendsAndActivations")
  void trainingForwardMatchesReference(Backend backend, Activation act) {
    for (long[] shape : withWideShapes(new long[][] {{2, 5, 7, 13}, {1, 3, 5, 6}, {3, 1, 1, 4}})) {
      Case k = new Case(17, shape);
      try (Context ctx = Backends.open(backend)) {
        Result r = run(ctx, k, true, MOMENTUM, EPS, act);
        double[][] st = NormRef.stats(k.x, k.rows, k.c);
        double[] invstd = new double[k.c];
        double[] rm = new double[k.c];
        double[] rv = new double[k.c];
        for (int i = 0; i < k.c; i++) {
          invstd[i] = 1 / Math.sqrt(st[1][i] + EPS);
          rm[i] = (1 - (double) MOMENTUM) * k.runMean[i] + MOMENTUM * st[0][i];
          rv[i] = (1 - (double) MOMENTUM) * k.runVar[i] + MOMENTUM * st[2][i]; // unbiased
        }
        String at = act + " " + java.util.Arrays.toString(shape);
        Tolerance.assertClose("save_mean " + at, r.saveMean, st[0], 1e-6, 1e-6);
        Tolerance.assertClose("save_invstd " + at, r.saveInvstd, invstd, 0, 5e-6);
        Tolerance.assertClose("running_mean " + at, r.runMean, rm, 1e-7, 1e-6);
        Tolerance.assertClose("running_var " + at, r.runVar, rv, 1e-7, 1e-6);
        double[] y = NormRef.bnForward(k.x, k.rows, k.c, st[0], invstd, k.gamma, k.beta, act);
        Tolerance.assertClose("y " + at, r.y, y, 1e-5, 1e-5);
      }
    }
  }

  /** Eval mode: y from the running statistics, which stay as they are; save_* receive them. */
  @ParameterizedTest
  @MethodSource("backendsAndActivations")
  void evalForwardUsesRunningStatistics(Backend backend, Activation act) {
    Case k = new Case(23, 2, 3, 5, 9);
    try (Context ctx = Backends.open(backend)) {
      Result r = run(ctx, k, false, MOMENTUM, EPS, act);
      double[] mean = NormRef.toDouble(k.runMean);
      double[] invstd = new double[k.c];
      for (int i = 0; i < k.c; i++) {
        invstd[i] = 1 / Math.sqrt(k.runVar[i] + (double) EPS);
      }
      assertThat(r.runMean).usingExactEquality().containsExactly(k.runMean).inOrder();
      assertThat(r.runVar).usingExactEquality().containsExactly(k.runVar).inOrder();
      assertThat(r.saveMean).usingExactEquality().containsExactly(k.runMean).inOrder();
      Tolerance.assertClose("save_invstd", r.saveInvstd, invstd, 0, 2e-7);
      double[] y = NormRef.bnForward(k.x, k.rows, k.c, mean, invstd, k.gamma, k.beta, act);
      Tolerance.assertClose("y " + act, r.y, y, 1e-5, 1e-5);

      // save_mean / save_invstd are optional in eval mode
      Tensor x = ctx.tensor(k.x, k.shape);
      Tensor yt = ctx.tensor(k.shape);
      Ops.batchnormForward(
          ctx, x, ctx.tensor(k.gamma, k.c), ctx.tensor(k.beta, k.c), ctx.tensor(k.runMean, k.c),
          ctx.tensor(k.runVar, k.c), yt, null, null, false, MOMENTUM, EPS, act);
      assertThat(yt.read()).usingExactEquality().containsExactly(r.y).inOrder();
    }
  }

  /**
   * Backward against the double-precision formulas, given the kernel's saved statistics. The
   * float kernel folds the channel sums into per-channel coefficients; dx of training mode is
   * a difference of O(|g|) terms: abs 1e-5 relative to max |dx|, rel 1e-4. dgamma/dbeta are
   * sums over the rows: abs 1e-5 * rows.
   */
  @ParameterizedTest
  @MethodSource("backendsActivationsModes")
  void backwardMatchesReference(Backend backend, Activation act, boolean training) {
    for (long[] shape : withWideShapes(new long[][] {{2, 5, 7, 13}, {1, 9, 4, 3}})) {
      Case k = new Case(29, shape);
      try (Context ctx = Backends.open(backend)) {
        Result r = run(ctx, k, training, MOMENTUM, EPS, act);
        double[][] ref =
            NormRef.bnBackward(
                k.x, k.dy, k.rows, k.c, NormRef.toDouble(r.saveMean),
                NormRef.toDouble(r.saveInvstd), k.gamma, k.beta, act, training);
        String at = act + (training ? " training " : " eval ") + java.util.Arrays.toString(shape);
        Tolerance.assertClose("dx " + at, r.dx, ref[0], 1e-5 * NormRef.maxAbs(ref[0]), 1e-4);
        Tolerance.assertClose("dgamma " + at, r.dgamma, ref[1], 1e-5 * k.rows, 1e-5);
        Tolerance.assertClose("dbeta " + at, r.dbeta, ref[2], 1e-5 * k.rows, 1e-5);
      }
    }
  }

  /**
   * es_batchnorm_backward_after_relu, for a batch norm whose input is a ReLU's output (x >= 0
   * with exact zeros, as in the decoder): dx is bit for bit es_batchnorm_backward's dx passed
   * through the ReLU's gradient [x > 0] (es_activation_backward), dgamma and dbeta are
   * es_batchnorm_backward's; every activation after the batch norm, both modes, several widths.
   */
  @ParameterizedTest
  @MethodSource("backendsActivationsModes")
  void backwardAfterReluIsBackwardThenReluGradient(Backend backend, Activation act, boolean training) {
    for (long[] shape : withWideShapes(new long[][] {{2, 5, 7, 13}})) {
      Case k = new Case(31, shape);
      for (int i = 0; i < k.x.length; i++) {
        k.x[i] = Math.max(k.x[i] - k.beta[i % k.c] * 4, 0f); // about a third of each channel zero
      }
      String at = act + (training ? " training " : " eval ") + java.util.Arrays.toString(shape);
      try (Context ctx = Backends.open(backend);
          Tensor x = ctx.tensor(k.x, k.shape);
          Tensor gamma = ctx.tensor(k.gamma, k.c);
          Tensor beta = ctx.tensor(k.beta, k.c);
          Tensor rm = ctx.tensor(k.runMean, k.c);
          Tensor rv = ctx.tensor(k.runVar, k.c);
          Tensor y = ctx.tensor(k.shape);
          Tensor sm = ctx.tensor(k.c);
          Tensor si = ctx.tensor(k.c);
          Tensor dy = ctx.tensor(k.dy, k.shape);
          Tensor dxBn = ctx.tensor(k.shape);
          Tensor dx = ctx.tensor(k.shape);
          Tensor dxFused = ctx.tensor(k.shape);
          Tensor dgamma = ctx.tensor(k.c);
          Tensor dbeta = ctx.tensor(k.c);
          Tensor dgammaFused = ctx.tensor(k.c);
          Tensor dbetaFused = ctx.tensor(k.c)) {
        Ops.batchnormForward(ctx, x, gamma, beta, rm, rv, y, sm, si, training, MOMENTUM, EPS, act);
        Ops.batchnormBackward(ctx, x, gamma, beta, dy, sm, si, dxBn, dgamma, dbeta, training, act);
        Ops.activationBackward(ctx, Activation.RELU, x, dxBn, dx);
        dxFused.fill(Float.NaN);
        Ops.batchnormBackwardAfterRelu(
            ctx, x, gamma, beta, dy, sm, si, dxFused, dgammaFused, dbetaFused, training, act);
        float[] expected = dx.read();
        long zeros = 0;
        for (float v : k.x) {
          zeros += v == 0f ? 1 : 0;
        }
        assertWithMessage("zero inputs " + at).that(zeros).isGreaterThan(k.x.length / 10);
        assertWithMessage("dx " + at).that(dxFused.read()).usingExactEquality().containsExactly(expected).inOrder();
        assertWithMessage("dgamma " + at).that(dgammaFused.read()).usingExactEquality()
            .containsExactly(dgamma.read()).inOrder();
        assertWithMessage("dbeta " + at).that(dbetaFused.read()).usingExactEquality()
            .containsExactly(dbeta.read()).inOrder();
      }
    }
  }

  /**
   * es_batchnorm_forward_pooled: y, the saved and the running statistics bit for bit
   * es_batchnorm_forward's, and pooled bit for bit es_global_avg_pool_forward of that y (the
   * same per-sample blocks of rows, summed in the same order). Every activation, both modes,
   * several widths, samples of one and of many blocks of rows.
   */
  @ParameterizedTest
  @MethodSource("backendsActivationsModes")
  void forwardPooledIsForwardThenPool(Backend backend, Activation act, boolean training) {
    for (long[] shape : withWideShapes(new long[][] {{2, 5, 7, 13}, {3, 1, 1, 4}, {2, 64, 80, 8}})) {
      Case k = new Case(53, shape);
      int n = (int) shape[0];
      String at = act + (training ? " training " : " eval ") + java.util.Arrays.toString(shape);
      try (Context ctx = Backends.open(backend);
          Tensor x = ctx.tensor(k.x, k.shape);
          Tensor gamma = ctx.tensor(k.gamma, k.c);
          Tensor beta = ctx.tensor(k.beta, k.c);
          Tensor rm = ctx.tensor(k.runMean, k.c);
          Tensor rv = ctx.tensor(k.runVar, k.c);
          Tensor y = ctx.tensor(k.shape);
          Tensor sm = ctx.tensor(k.c);
          Tensor si = ctx.tensor(k.c);
          Tensor pooled = ctx.tensor(n, 1, 1, k.c);
          Tensor rmFused = ctx.tensor(k.runMean, k.c);
          Tensor rvFused = ctx.tensor(k.runVar, k.c);
          Tensor yFused = ctx.tensor(k.shape);
          Tensor smFused = ctx.tensor(k.c);
          Tensor siFused = ctx.tensor(k.c);
          Tensor pooledFused = ctx.tensor(n, 1, 1, k.c)) {
        Ops.batchnormForward(ctx, x, gamma, beta, rm, rv, y, sm, si, training, MOMENTUM, EPS, act);
        Ops.globalAvgPoolForward(ctx, y, pooled);
        pooledFused.fill(Float.NaN);
        Ops.batchnormForwardPooled(
            ctx, x, gamma, beta, rmFused, rvFused, yFused, smFused, siFused, training, MOMENTUM, EPS, act,
            pooledFused);
        Tensor[][] pairs = {{y, yFused}, {pooled, pooledFused}, {sm, smFused}, {si, siFused},
            {rm, rmFused}, {rv, rvFused}};
        String[] names = {"y", "pooled", "save_mean", "save_invstd", "running_mean", "running_var"};
        for (int i = 0; i < pairs.length; i++) {
          assertWithMessage(names[i] + " " + at).that(pairs[i][1].read()).usingExactEquality()
              .containsExactly(pairs[i][0].read()).inOrder();
        }
      }
    }
  }

  /**
   * es_batchnorm_backward_gated, whose incoming gradient dy * s + alpha * t (s, t per sample and
   * channel) is formed as dy is read: the same dx, dgamma and dbeta as es_channel_scale_add
   * followed by es_batchnorm_backward, within a few roundings (the sums run over the same
   * values; a backend may round the gate's product and sum with or without one fused
   * multiply-add); the same dx without dgamma and dbeta, and written over dy. Every
   * activation, both modes, several widths, images of one and of many 64-row chunks.
   */
  @ParameterizedTest
  @MethodSource("backendsActivationsModes")
  void backwardGatedIsScaleAddThenBackward(Backend backend, Activation act, boolean training) {
    for (long[] shape : withWideShapes(new long[][] {{2, 5, 7, 13}, {3, 1, 1, 4}})) {
      Case k = new Case(47, shape);
      int n = (int) shape[0];
      Rand rand = new Rand(48);
      float[] gate = rand.uniform(n * k.c, 0, 1);
      float[] pooled = rand.normal(n * k.c, 1);
      float alpha = 1f / (shape[1] * shape[2]);
      String at = act + (training ? " training " : " eval ") + java.util.Arrays.toString(shape);
      try (Context ctx = Backends.open(backend);
          Tensor x = ctx.tensor(k.x, k.shape);
          Tensor gamma = ctx.tensor(k.gamma, k.c);
          Tensor beta = ctx.tensor(k.beta, k.c);
          Tensor rm = ctx.tensor(k.runMean, k.c);
          Tensor rv = ctx.tensor(k.runVar, k.c);
          Tensor y = ctx.tensor(k.shape);
          Tensor sm = ctx.tensor(k.c);
          Tensor si = ctx.tensor(k.c);
          Tensor s = ctx.tensor(gate, n, 1, 1, k.c);
          Tensor t = ctx.tensor(pooled, n, 1, 1, k.c);
          Tensor dy = ctx.tensor(k.dy, k.shape);
          Tensor dyGated = ctx.tensor(k.shape);
          Tensor dx = ctx.tensor(k.shape);
          Tensor dgamma = ctx.tensor(k.c);
          Tensor dbeta = ctx.tensor(k.c);
          Tensor dxGated = ctx.tensor(k.shape);
          Tensor dgammaGated = ctx.tensor(k.c);
          Tensor dbetaGated = ctx.tensor(k.c);
          Tensor dxOnly = ctx.tensor(k.shape);
          Tensor inPlace = ctx.tensor(k.dy, k.shape)) {
        Ops.batchnormForward(ctx, x, gamma, beta, rm, rv, y, sm, si, training, MOMENTUM, EPS, act);
        Ops.channelScaleAdd(ctx, dy, s, t, alpha, dyGated);
        Ops.batchnormBackward(ctx, x, gamma, beta, dyGated, sm, si, dx, dgamma, dbeta, training, act);
        dxGated.fill(Float.NaN);
        Ops.batchnormBackwardGated(
            ctx, x, gamma, beta, dy, s, t, alpha, sm, si, dxGated, dgammaGated, dbetaGated, training, act);
        float[] expectedDx = dx.read();
        float[] expectedDgamma = dgamma.read();
        float[] expectedDbeta = dbeta.read();
        Tolerance.assertClose("dx " + at, dxGated.read(), expectedDx, 1e-6, 1e-5);
        Tolerance.assertClose("dgamma " + at, dgammaGated.read(), expectedDgamma, 1e-5, 1e-5);
        Tolerance.assertClose("dbeta " + at, dbetaGated.read(), expectedDbeta, 1e-5, 1e-5);

        Ops.batchnormBackwardGated(
            ctx, x, gamma, beta, dy, s, t, alpha, sm, si, dxOnly, null, null, training, act);
        assertWithMessage("dx only " + at).that(dxOnly.read()).usingExactEquality()
            .containsExactly(dxGated.read()).inOrder();
        Ops.batchnormBackwardGated(
            ctx, x, gamma, beta, inPlace, s, t, alpha, sm, si, inPlace, null, null, training, act);
        assertWithMessage("dx over dy " + at).that(inPlace.read()).usingExactEquality()
            .containsExactly(dxGated.read()).inOrder();
      }
    }
  }

  /**
   * Finite differences of the float32 forward, L = sum(y * r), for x, gamma and beta (batch 1,
   * non-square, 12 rows per channel). GradCheck's tolerances (abs 2e-3 + rel 2e-2, h = 1e-2)
   * cover float rounding of L (~1e-4 / h) and the curvature of the batch statistics. ReLU is
   * left to the reference and PyTorch tests: a difference quotient across its kink is wrong.
   */
  @ParameterizedTest
  @MethodSource("backendsSmoothActivationsModes")
  void backwardMatchesFiniteDifferences(Backend backend, Activation act, boolean training) {
    Case k = new Case(31, 1, 3, 4, 5);
    try (Context ctx = Backends.open(backend)) {
      Result r = run(ctx, k, training, MOMENTUM, EPS, act);
      Tensor x = ctx.tensor(k.shape);
      Tensor gamma = ctx.tensor(k.c);
      Tensor beta = ctx.tensor(k.c);
      Tensor rm = ctx.tensor(k.c);
      Tensor rv = ctx.tensor(k.c);
      Tensor y = ctx.tensor(k.shape);
      Tensor sm = ctx.tensor(k.c);
      Tensor si = ctx.tensor(k.c);
      java.util.function.Supplier<Double> loss =
          () -> {
            x.write(k.x);
            gamma.write(k.gamma);
            beta.write(k.beta);
            rm.write(k.runMean);
            rv.write(k.runVar);
            Ops.batchnormForward(
                ctx, x, gamma, beta, rm, rv, y, sm, si, training, MOMENTUM, EPS, act);
            return GradCheck.dot(y.read(), k.dy);
          };
      String at = act + (training ? " training" : " eval");
      GradCheck.check("dx " + at, k.x, r.dx, loss, 1e-2, 2e-3, 2e-2, k.x.length, 1);
      GradCheck.check("dgamma " + at, k.gamma, r.dgamma, loss, 1e-2, 2e-3, 2e-2, k.c, 2);
      GradCheck.check("dbeta " + at, k.beta, r.dbeta, loss, 1e-2, 2e-3, 2e-2, k.c, 3);
    }
  }

  static Stream<Arguments> torchCases() {
    return Backends.all()
        .flatMap(
            b ->
                Stream.of(Activation.NONE, Activation.RELU, Activation.SWISH)
                    .flatMap(
                        a ->
                            Stream.of(true, false)
                                .flatMap(
                                    t ->
                                        Stream.of(
                                            Arguments.of(b, a, t, 1e-3f, 0.01f), // encoder
                                            Arguments.of(b, a, t, 1e-5f, 0.1f))))); // decoder
  }

  /**
   * Against torch::batch_norm (DJL, axis -1 = straight to torch on NCHW) followed by the
   * activation, with autograd for dx, dgamma, dbeta. DJL hands torch 1 - momentum (MXNet's
   * convention), so we pass 1 - m to get torch's momentum m. Both sides are float32 with
   * different summation orders: y abs 1e-5, gradients abs 1e-5 (dx) and 1e-4 (sums over 60
   * rows), rel 1e-4; running statistics rel 1e-5 (1 - (1 - m) in float perturbs m by 1e-6).
   */
  @ParameterizedTest
  @MethodSource("torchCases")
  void matchesPyTorch(Backend backend, Activation act, boolean training, float eps, float momentum) {
    Case k = new Case(37, 2, 6, 5, 8);
    long n = k.shape[0];
    long h = k.shape[1];
    long w = k.shape[2];
    try (Context ctx = Backends.open(backend);
        TorchOracle torch = new TorchOracle()) {
      Result r = run(ctx, k, training, momentum, eps, act);

      NDArray px = torch.fromNhwc(k.x, n, h, w, k.c);
      NDArray gamma = torch.array(k.gamma, k.c);
      NDArray beta = torch.array(k.beta, k.c);
      NDArray rm = torch.array(k.runMean, k.c);
      NDArray rv = torch.array(k.runVar, k.c);
      px.setRequiresGradient(true);
      gamma.setRequiresGradient(true);
      beta.setRequiresGradient(true);
      String at = act + (training ? " training" : " eval") + " eps " + eps;
      try (GradientCollector gc = TorchOracle.record()) {
        NDArray bn =
            BatchNorm.batchNorm(px, rm, rv, gamma, beta, -1, 1 - momentum, eps, training)
                .singletonOrThrow();
        NDArray py = NormRef.torchAct(act, bn);
        Tolerance.assertClose("y " + at, r.y, TorchOracle.toNhwc(py), 1e-5, 1e-5);
        gc.backward(py.mul(torch.fromNhwc(k.dy, n, h, w, k.c)).sum());
      }
      Tolerance.assertClose("running_mean " + at, r.runMean, rm.toFloatArray(), 1e-7, 1e-5);
      Tolerance.assertClose("running_var " + at, r.runVar, rv.toFloatArray(), 1e-7, 1e-5);
      float[] tdx = TorchOracle.toNhwc(px.getGradient());
      Tolerance.assertClose("dx " + at, r.dx, tdx, 1e-5, 1e-4);
      Tolerance.assertClose("dgamma " + at, r.dgamma, gamma.getGradient().toFloatArray(), 1e-4, 1e-4);
      Tolerance.assertClose("dbeta " + at, r.dbeta, beta.getGradient().toFloatArray(), 1e-4, 1e-4);
    }
  }

  /**
   * Statistics over many rows with |mean| >> std (mean 1000, std 1, 8192 rows): float
   * accumulation of sum and sum of squares would lose the variance entirely; the kernel's
   * shifted, double-combined sums keep invstd to float precision.
   */
  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void statisticsStayAccurateWithLargeMeans(Backend backend) {
    long[] shape = {8, 32, 32, 3};
    int size = Rand.size(shape);
    float[] x = new Rand(41).normal(size, 1);
    for (int i = 0; i < size; i++) {
      x[i] += 1000;
    }
    try (Context ctx = Backends.open(backend)) {
      Tensor tx = ctx.tensor(x, shape);
      Tensor y = ctx.tensor(shape);
      Tensor sm = ctx.tensor(3);
      Tensor si = ctx.tensor(3);
      Tensor ones = ctx.tensor(new float[] {1, 1, 1}, 3);
      Ops.batchnormForward(
          ctx, tx, ones, ctx.tensor(3), ctx.tensor(3), ctx.tensor(new float[] {1, 1, 1}, 3), y,
          sm, si, true, 0.1f, 1e-5f, Activation.NONE);
      double[][] st = NormRef.stats(x, size / 3, 3);
      double[] invstd = new double[3];
      for (int c = 0; c < 3; c++) {
        invstd[c] = 1 / Math.sqrt(st[1][c] + 1e-5);
      }
      Tolerance.assertClose("mean", sm.read(), st[0], 0, 1e-7);
      Tolerance.assertClose("invstd", si.read(), invstd, 0, 1e-6);
    }
  }

  /**
   * Rows are cut into blocks by shape alone and block sums are added in block order, so the
   * result is the same to the bit for any thread count (and any run). Each thread takes its own
   * share of the blocks and then what is left of the others' shares; four threads on a machine
   * with fewer cores start at different times, so shares are taken over (5 blocks of 1408 rows
   * of 24 channels, and 30 blocks of 512 rows of 64 channels).
   */
  @Test
  void bitIdenticalForAnyThreadCount() {
    for (Case k : new Case[] {new Case(43, 4, 40, 40, 24), new Case(44, 4, 60, 64, 64)}) {
      Result first;
      try (Context ctx = Context.cpu(2)) {
        first = run(ctx, k, true, MOMENTUM, EPS, Activation.SWISH);
        float[] again = run(ctx, k, true, MOMENTUM, EPS, Activation.SWISH).dx;
        assertThat(again).usingExactEquality().containsExactly(first.dx).inOrder();
      }
      for (int threads : new int[] {1, 3, 4}) {
        try (Context ctx = Context.cpu(threads)) {
          for (int rep = 0; rep < 3; rep++) {
            Result other = run(ctx, k, true, MOMENTUM, EPS, Activation.SWISH);
            String at = k.c + " channels, " + threads + " threads, run " + rep;
            assertWithMessage("y " + at).that(other.y).usingExactEquality()
                .containsExactly(first.y).inOrder();
            assertWithMessage("invstd " + at).that(other.saveInvstd).usingExactEquality()
                .containsExactly(first.saveInvstd).inOrder();
            assertWithMessage("dx " + at).that(other.dx).usingExactEquality()
                .containsExactly(first.dx).inOrder();
            assertWithMessage("dgamma " + at).that(other.dgamma).usingExactEquality()
                .containsExactly(first.dgamma).inOrder();
          }
        }
      }
    }
  }

  /**
   * The CPU kernels' first backward pass adds dbeta's and dgamma's terms row after row (a row's channels
   * before the next row's) when it also writes a result as it goes, and a slice of channels at
   * a time over each 64-row chunk when it only reads: the same additions in the same order, so
   * the same bits. Without an activation, training dy is read as it is (nothing written), and
   * the gated form with s = 1, alpha = 0 parks dy * 1 + 0 in dx (written): the two must agree
   * to the bit in dgamma, dbeta and dx. 120 channels are wider than one slice on every path (64,
   * 32 or 16 channels); 4 x 7 x 50 rows are several chunks and blocks.
   */
  @Test
  void backwardSumsSameBitsWhetherOrNotThePassWrites() {
    Case k = new Case(47, 4, 7, 50, 120);
    Activation act = Activation.NONE;
    try (Context ctx = Context.cpu(2)) {
      Tensor x = ctx.tensor(k.x, k.shape);
      Tensor gamma = ctx.tensor(k.gamma, k.c);
      Tensor beta = ctx.tensor(k.beta, k.c);
      Tensor sm = ctx.tensor(k.c);
      Tensor si = ctx.tensor(k.c);
      Ops.batchnormForward(ctx, x, gamma, beta, ctx.tensor(k.runMean, k.c),
          ctx.tensor(k.runVar, k.c), ctx.tensor(k.shape), sm, si, true, MOMENTUM, EPS, act);
      Tensor dy = ctx.tensor(k.dy, k.shape);
      Tensor dxRead = ctx.tensor(k.shape);
      Tensor dgRead = ctx.tensor(k.c);
      Tensor dbRead = ctx.tensor(k.c);
      Ops.batchnormBackward(ctx, x, gamma, beta, dy, sm, si, dxRead, dgRead, dbRead, true, act);
      int n = (int) k.shape[0];
      float[] ones = new float[n * k.c];
      java.util.Arrays.fill(ones, 1f);
      Tensor s = ctx.tensor(ones, n, 1, 1, k.c);
      Tensor t = ctx.tensor(new float[n * k.c], n, 1, 1, k.c);
      Tensor dxParked = ctx.tensor(k.shape);
      Tensor dgParked = ctx.tensor(k.c);
      Tensor dbParked = ctx.tensor(k.c);
      Ops.batchnormBackwardGated(
          ctx, x, gamma, beta, dy, s, t, 0f, sm, si, dxParked, dgParked, dbParked, true, act);
      assertThat(dgParked.read()).usingExactEquality().containsExactly(dgRead.read()).inOrder();
      assertThat(dbParked.read()).usingExactEquality().containsExactly(dbRead.read()).inOrder();
      assertThat(dxParked.read()).usingExactEquality().containsExactly(dxRead.read()).inOrder();
    }
  }

  /**
   * es_batchnorm_forward_repeated on x is the batch norm of up2(x), x's 2x nearest upsampling
   * (every pixel 4 times): the same statistics and, upsampled, the same y; the running variance
   * uses up2(x)'s unbiased count (280 values here, not x's 70, which would move it by 1e-3
   * relative). Its backward, es_batchnorm_backward on x with the upsampling's adjoint of up2(x)'s
   * gradient, is that adjoint of up2(x)'s backward. Eval mode ignores repeats.
   */
  @ParameterizedTest
  @MethodSource("backendsAndActivations")
  void repeatedIsTheBatchNormOfTheUpsampledTensor(Backend backend, Activation act) {
    Case k = new Case(53, 2, 5, 7, 12);
    long[] up = {2, 10, 14, 12};
    int upRows = 2 * 10 * 14;
    float momentum = 0.1f;
    float eps = 1e-5f;
    try (Context ctx = Backends.open(backend)) {
      Tensor x = ctx.tensor(k.x, k.shape);
      Tensor xUp = ctx.tensor(up);
      Ops.upsampleNearestForward(ctx, x, xUp, false);
      Tensor gamma = ctx.tensor(k.gamma, k.c);
      Tensor beta = ctx.tensor(k.beta, k.c);
      for (boolean training : new boolean[] {true, false}) {
        String at = act + (training ? " training" : " eval");
        Tensor rmUp = ctx.tensor(k.runMean, k.c);
        Tensor rvUp = ctx.tensor(k.runVar, k.c);
        Tensor yUp = ctx.tensor(up);
        Tensor smUp = ctx.tensor(k.c);
        Tensor siUp = ctx.tensor(k.c);
        Ops.batchnormForward(ctx, xUp, gamma, beta, rmUp, rvUp, yUp, smUp, siUp, training, momentum, eps, act);
        Tensor rm = ctx.tensor(k.runMean, k.c);
        Tensor rv = ctx.tensor(k.runVar, k.c);
        Tensor y = ctx.tensor(k.shape);
        Tensor sm = ctx.tensor(k.c);
        Tensor si = ctx.tensor(k.c);
        Ops.batchnormForwardRepeated(ctx, x, gamma, beta, rm, rv, y, sm, si, training, momentum, eps, act, 4);
        Tensor yUpsampled = ctx.tensor(up);
        Ops.upsampleNearestForward(ctx, y, yUpsampled, false);
        Tolerance.assertClose("y " + at, yUpsampled.read(), yUp.read(), 1e-5, 1e-5);
        Tolerance.assertClose("save_mean " + at, sm.read(), smUp.read(), 1e-6, 1e-6);
        Tolerance.assertClose("save_invstd " + at, si.read(), siUp.read(), 0, 5e-6);
        Tolerance.assertClose("running_mean " + at, rm.read(), rmUp.read(), 1e-7, 1e-6);
        double[] rvExpected = new double[k.c];
        double[][] st = NormRef.stats(k.x, k.rows, k.c);
        for (int i = 0; i < k.c; i++) {
          rvExpected[i] = training
              ? (1 - (double) momentum) * k.runVar[i] + momentum * st[1][i] * upRows / (upRows - 1.0)
              : k.runVar[i];
        }
        Tolerance.assertClose("running_var " + at, rv.read(), rvExpected, 1e-7, 1e-6);
        Tolerance.assertClose("running_var of up2(x) " + at, rvUp.read(), rvExpected, 1e-7, 1e-6);

        Tensor dyUp = ctx.tensor(new Rand(59).normal(upRows * k.c, 1), up);
        Tensor dxUp = ctx.tensor(up);
        Tensor dgUp = ctx.tensor(k.c);
        Tensor dbUp = ctx.tensor(k.c);
        Ops.batchnormBackward(ctx, xUp, gamma, beta, dyUp, smUp, siUp, dxUp, dgUp, dbUp, training, act);
        Tensor dxUpSummed = ctx.tensor(k.shape);
        Ops.upsampleNearestBackward(ctx, dxUp, dxUpSummed);
        Tensor dy = ctx.tensor(k.shape);
        Ops.upsampleNearestBackward(ctx, dyUp, dy);
        Tensor dx = ctx.tensor(k.shape);
        Tensor dg = ctx.tensor(k.c);
        Tensor db = ctx.tensor(k.c);
        Ops.batchnormBackward(ctx, x, gamma, beta, dy, sm, si, dx, dg, db, training, act);
        Tolerance.assertClose("dx " + at, dx.read(), dxUpSummed.read(), 1e-4, 1e-4);
        Tolerance.assertClose("dgamma " + at, dg.read(), dgUp.read(), 1e-4, 1e-4);
        Tolerance.assertClose("dbeta " + at, db.read(), dbUp.read(), 1e-4, 1e-4);
        for (Tensor t : new Tensor[] {rmUp, rvUp, yUp, smUp, siUp, rm, rv, y, sm, si, yUpsampled, dyUp, dxUp,
            dgUp, dbUp, dxUpSummed, dy, dx, dg, db}) {
          t.close();
        }
      }
      EffisegException e = assertThrows(EffisegException.class,
          () -> Ops.batchnormForwardRepeated(ctx, x, gamma, beta, ctx.tensor(k.runMean, k.c),
              ctx.tensor(k.runVar, k.c), ctx.tensor(k.shape), ctx.tensor(k.c), ctx.tensor(k.c), true,
              momentum, eps, act, 0));
      assertThat(e).hasMessageThat().contains("repeats must be at least 1");
    }
  }

  /** Without an activation, y may overwrite x and dx may overwrite dy. */
  @Test
  void inPlaceWithoutActivation() {
    Case k = new Case(47, 2, 3, 3, 5);
    try (Context ctx = Context.cpu(2)) {
      Result r = run(ctx, k, true, MOMENTUM, EPS, Activation.NONE);
      Tensor x = ctx.tensor(k.x, k.shape);
      Tensor gamma = ctx.tensor(k.gamma, k.c);
      Tensor beta = ctx.tensor(k.beta, k.c);
      Tensor sm = ctx.tensor(k.c);
      Tensor si = ctx.tensor(k.c);
      Ops.batchnormForward(
          ctx, x, gamma, beta, ctx.tensor(k.runMean, k.c), ctx.tensor(k.runVar, k.c), x, sm, si,
          true, MOMENTUM, EPS, Activation.NONE);
      assertThat(x.read()).usingExactEquality().containsExactly(r.y).inOrder();
      Tensor xOrig = ctx.tensor(k.x, k.shape);
      Tensor d = ctx.tensor(k.dy, k.shape);
      Ops.batchnormBackward(ctx, xOrig, gamma, beta, d, sm, si, d, null, null, true, Activation.NONE);
      assertThat(d.read()).usingExactEquality().containsExactly(r.dx).inOrder();
    }
  }

  @Test
  void badInputIsAnException() {
    try (Context ctx = Context.cpu(1)) {
      Tensor x = ctx.tensor(2, 3, 3, 4);
      Tensor y = ctx.tensor(2, 3, 3, 4);
      Tensor c4 = ctx.tensor(4);
      Tensor c5 = ctx.tensor(5);
      EffisegException e =
          assertThrows(
              EffisegException.class,
              () ->
                  Ops.batchnormForward(
                      ctx, x, c5, c4, c4, c4, y, c4, c4, true, 0.1f, 1e-5f, Activation.SWISH));
      assertThat(e.status()).isEqualTo(EffisegException.Status.SHAPE);
      assertThat(e).hasMessageThat().contains("es_batchnorm_forward");
      assertThat(e).hasMessageThat().contains("gamma");

      Tensor one = ctx.tensor(1, 1, 1, 4);
      e =
          assertThrows(
              EffisegException.class,
              () ->
                  Ops.batchnormForward(
                      ctx, one, c4, c4, c4, c4, one, c4, c4, true, 0.1f, 1e-5f, Activation.NONE));
      assertThat(e).hasMessageThat().contains("more than one value per channel");

      e =
          assertThrows(
              EffisegException.class,
              () ->
                  Ops.batchnormForward(
                      ctx, x, c4, c4, c4, c4, x, c4, c4, true, 0.1f, 1e-5f, Activation.SWISH));
      assertThat(e.status()).isEqualTo(EffisegException.Status.INVALID_ARGUMENT);
      assertThat(e).hasMessageThat().contains("alias");

      e =
          assertThrows(
              EffisegException.class,
              () ->
                  Ops.batchnormForward(
                      ctx, x, c4, c4, c4, c4, y, null, c4, true, 0.1f, 1e-5f, Activation.NONE));
      assertThat(e.status()).isEqualTo(EffisegException.Status.NULL_HANDLE);
      assertThat(e).hasMessageThat().contains("save_mean");

      e =
          assertThrows(
              EffisegException.class,
              () ->
                  Ops.batchnormForward(
                      ctx, x, c4, c4, c4, c4, y, c4, c4, true, 0.1f, 0f, Activation.NONE));
      assertThat(e).hasMessageThat().contains("eps");

      Tensor dxWrong = ctx.tensor(2, 3, 4, 4);
      e =
          assertThrows(
              EffisegException.class,
              () ->
                  Ops.batchnormBackward(
                      ctx, x, c4, c4, y, c4, c4, dxWrong, null, null, true, Activation.SWISH));
      assertThat(e.status()).isEqualTo(EffisegException.Status.SHAPE);
      assertThat(e).hasMessageThat().contains("es_batchnorm_backward");
      assertThat(e).hasMessageThat().contains("[2,3,4,4]");

      Tensor gate = ctx.tensor(2, 1, 1, 4);
      Tensor gateWrong = ctx.tensor(1, 1, 1, 4);
      e =
          assertThrows(
              EffisegException.class,
              () ->
                  Ops.batchnormForwardPooled(
                      ctx, x, c4, c4, c4, c4, y, c4, c4, true, 0.1f, 1e-5f, Activation.SWISH,
                      gateWrong));
      assertThat(e.status()).isEqualTo(EffisegException.Status.SHAPE);
      assertThat(e).hasMessageThat().contains("es_batchnorm_forward_pooled");
      assertThat(e).hasMessageThat().contains("pooled");
      e =
          assertThrows(
              EffisegException.class,
              () ->
                  Ops.batchnormForwardPooled(
                      ctx, x, c4, c4, c4, c4, y, c4, c4, true, 0.1f, 1e-5f, Activation.SWISH, null));
      assertThat(e.status()).isEqualTo(EffisegException.Status.NULL_HANDLE);
      e =
          assertThrows(
              EffisegException.class,
              () ->
                  Ops.batchnormBackwardGated(
                      ctx, x, c4, c4, y, gate, gateWrong, 0.5f, c4, c4, y, null, null, true,
                      Activation.SWISH));
      assertThat(e.status()).isEqualTo(EffisegException.Status.SHAPE);
      assertThat(e).hasMessageThat().contains("es_batchnorm_backward_gated");
      assertThat(e).hasMessageThat().contains("[1,1,1,4]");
      e =
          assertThrows(
              EffisegException.class,
              () ->
                  Ops.batchnormBackwardGated(
                      ctx, x, c4, c4, y, null, gate, 0.5f, c4, c4, y, null, null, true,
                      Activation.SWISH));
      assertThat(e.status()).isEqualTo(EffisegException.Status.NULL_HANDLE);
      assertThat(e).hasMessageThat().contains("s");
      Tensor flat = ctx.tensor(18, 4);
      e =
          assertThrows(
              EffisegException.class,
              () ->
                  Ops.batchnormBackwardGated(
                      ctx, flat, c4, c4, flat, gate, gate, 0.5f, c4, c4, flat, null, null, true,
                      Activation.SWISH));
      assertThat(e.status()).isEqualTo(EffisegException.Status.SHAPE);
    }
  }
}
