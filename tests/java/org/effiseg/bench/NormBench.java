package org.effiseg.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.norm.BatchNorm;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.effiseg.nativeapi.Activation;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Ops;
import org.effiseg.nativeapi.Tensor;

/**
 * Batch norm (training mode) fused with swish, forward and backward, at EffiSegNet-B0 shapes
 * (batch 8, 224x224 input), against PyTorch in the same process with the same thread count.
 *
 * <p>PyTorch side: torch::batch_norm (DJL, axis -1) followed by the activation, autograd for the
 * backward (torch backward with a dy made beforehand; the forward is not counted in the backward
 * time).
 * DJL exposes no fused SiLU, so the PyTorch figure that stands for nn.SiLU is BN followed by
 * sigmoid: one elementwise kernel with an exp in each direction, like silu / silu_backward,
 * rather than the slower literal x * sigmoid(x) (also printed). PyTorch runs on NCHW
 * (its default, what the reference model uses) and on channels-last (our layout); the ratio
 * is taken against the faster of the two. Plain batch norm (no activation) is compared too.
 * Rounds interleave all variants; ratios are given of medians and of minima (the minimum is
 * the figure least disturbed by other processes on a shared machine). Our result is
 * validated against PyTorch before timing.
 *
 * <p>Run (after {@code mvn -o test-compile}):
 * <pre>
 * mvn -o -q dependency:build-classpath -Dmdep.outputFile=target/test.cp -Dmdep.includeScope=test
 * GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184 \
 *   java -cp target/classes:target/test-classes:$(cat target/test.cp) \
 *   -DPYTORCH_VERSION=2.7.1 -DPYTORCH_FLAVOR=cpu -Dai.djl.offline=true \
 *   -DENGINE_CACHE_DIR=target/djl-cache org.effiseg.bench.NormBench [threads] [iterations]
 * </pre>
 */
public final class NormBench {
  private NormBench() {}

  /** B0 feature maps that carry a BN + swish: {H = W, C}, batch 8. */
  private static final int[][] SHAPES = {{112, 32}, {112, 96}, {56, 144}, {28, 240}, {14, 672}, {7, 1152}};

  private static final int N = 8;
  private static final float EPS = 1e-3f;
  private static final float MOMENTUM = 0.01f;

  public static void main(String[] args) {
    int threads = args.length > 0 ? Integer.parseInt(args[0]) : 2;
    int iterations = args.length > 1 ? Integer.parseInt(args[1]) : 15;
    Engine engine = Engine.getEngine("PyTorch");
    JniUtils.setNumThreads(threads);
    System.out.printf(
        "batch norm (training) + swish vs PyTorch %s, batch %d, %d threads (PyTorch intra-op %d),"
            + " median of %d, ms%n",
        engine.getVersion(), N, threads, JniUtils.getNumThreads(), iterations);
    System.out.printf(
        "%-16s %-4s %8s | %8s %8s %8s | %5s %5s || %8s | %8s %8s | %5s %5s%n",
        "", "", "ours", "torch", "torch", "torch", "ratio", "ratio", "ours", "torch", "torch", "ratio", "ratio");
    System.out.printf(
        "%-16s %-4s %8s | %8s %8s %8s | %5s %5s || %8s | %8s %8s | %5s %5s%n",
        "shape", "dir", "BN+swish", "BN+sig", "BN+sig", "BN+x*sg", "med", "min", "BN", "BN", "BN", "med", "min");
    System.out.printf(
        "%-16s %-4s %8s | %8s %8s %8s | %5s %5s || %8s | %8s %8s | %5s %5s%n",
        "", "", "NHWC", "NCHW", "NHWC", "NCHW", "", "", "NHWC", "NCHW", "NHWC", "", "");
    try (Context ctx = Context.cpu(threads);
        NDManager base = engine.newBaseManager()) {
      for (int[] s : SHAPES) {
        bench(ctx, base, s[0], s[1], iterations);
      }
    }
  }

  private static void bench(Context ctx, NDManager base, int hw, int c, int iterations) {
    long[] nhwc = {N, hw, hw, c};
    int size = N * hw * hw * c;
    SplittableRandom random = new SplittableRandom(hw * 1000L + c);
    float[] x = new float[size];
    float[] dy = new float[size];
    for (int i = 0; i < size; i++) {
      x[i] = (float) (random.nextGaussian() * 1.5 + 0.3);
      dy[i] = (float) random.nextGaussian();
    }
    float[] gamma = new float[c];
    float[] beta = new float[c];
    for (int k = 0; k < c; k++) {
      gamma[k] = (float) (0.5 + random.nextDouble());
      beta[k] = (float) (random.nextDouble() - 0.5);
    }
    String shape = N + "x" + hw + "x" + hw + "x" + c;

    try (Tensor tx = ctx.tensor(x, nhwc);
        Tensor tg = ctx.tensor(gamma, c);
        Tensor tb = ctx.tensor(beta, c);
        Tensor rm = ctx.tensor(c);
        Tensor rv = ctx.tensor(c);
        Tensor ty = ctx.tensor(nhwc);
        Tensor sm = ctx.tensor(c);
        Tensor si = ctx.tensor(c);
        Tensor tdy = ctx.tensor(dy, nhwc);
        Tensor tdx = ctx.tensor(nhwc);
        Tensor dg = ctx.tensor(c);
        Tensor db = ctx.tensor(c);
        NDManager m = base.newSubManager()) {
      rv.fill(1);
      // NCHW-contiguous for PyTorch's default layout (the same numbers, reinterpreted: the
      // statistics do not matter for timing); an NHWC array permuted to NCHW is channels-last.
      NDArray xNchw = m.create(x, new Shape(N, c, hw, hw));
      NDArray xChannelsLast = m.create(x, new Shape(N, hw, hw, c)).transpose(0, 3, 1, 2);
      NDArray g = m.create(gamma);
      NDArray b = m.create(beta);
      NDArray trm = m.zeros(new Shape(c));
      NDArray trv = m.ones(new Shape(c));

      // validate: ours against PyTorch, forward and backward, on this shape
      validate(ctx, m, tx, tg, tb, rm, rv, ty, sm, si, tdy, tdx, dg, db, xChannelsLast, g, b, trm, trv, dy, shape);

      Function<NDArray, NDArray> sigmoid = ai.djl.nn.Activation::sigmoid;
      Function<NDArray, NDArray> swish = v -> v.mul(ai.djl.nn.Activation.sigmoid(v));
      Function<NDArray, NDArray> none = v -> v;
      NDArray[] torchX = {xNchw, xChannelsLast, xNchw, xNchw, xChannelsLast};
      List<Function<NDArray, NDArray>> torchAct = List.of(sigmoid, sigmoid, swish, none, none);

      // Rounds interleave every variant, so load from other processes hits them alike.
      // t[variant][direction][round]: 0 ours BN+swish, 1 ours BN, 2-6 the torch variants above.
      double[][][] t = new double[7][2][iterations];
      for (int it = -3; it < iterations; it++) { // 3 warm-up rounds
        double[] round = new double[14];
        round[0] = time(() -> Ops.batchnormForward(ctx, tx, tg, tb, rm, rv, ty, sm, si, true, MOMENTUM, EPS, Activation.SWISH));
        round[1] = time(() -> Ops.batchnormBackward(ctx, tx, tg, tb, tdy, sm, si, tdx, dg, db, true, Activation.SWISH));
        round[2] = time(() -> Ops.batchnormForward(ctx, tx, tg, tb, rm, rv, ty, sm, si, true, MOMENTUM, EPS, Activation.NONE));
        round[3] = time(() -> Ops.batchnormBackward(ctx, tx, tg, tb, tdy, sm, si, tdx, dg, db, true, Activation.NONE));
        for (int v = 0; v < 5; v++) {
          double[] fb = torchRound(base, torchX[v], g, b, trm, trv, torchAct.get(v));
          round[4 + 2 * v] = fb[0];
          round[5 + 2 * v] = fb[1];
        }
        if (it >= 0) {
          for (int v = 0; v < 7; v++) {
            t[v][0][it] = round[2 * v];
            t[v][1][it] = round[2 * v + 1];
          }
        }
      }
      for (int d = 0; d < 2; d++) {
        System.out.printf(
            "%-16s %-4s %8.2f | %8.2f %8.2f %8.2f | %5.2f %5.2f || %8.2f | %8.2f %8.2f | %5.2f %5.2f%n",
            shape, d == 0 ? "fwd" : "bwd", med(t[0][d]), med(t[2][d]), med(t[3][d]), med(t[4][d]),
            med(t[0][d]) / Math.min(med(t[2][d]), med(t[3][d])),
            min(t[0][d]) / Math.min(min(t[2][d]), min(t[3][d])),
            med(t[1][d]), med(t[5][d]), med(t[6][d]),
            med(t[1][d]) / Math.min(med(t[5][d]), med(t[6][d])),
            min(t[1][d]) / Math.min(min(t[5][d]), min(t[6][d])));
      }
    }
  }

  /** Ours vs PyTorch on this shape (channels-last torch, random dy); throws if they disagree. */
  private static void validate(
      Context ctx, NDManager m, Tensor tx, Tensor tg, Tensor tb, Tensor rm, Tensor rv, Tensor ty,
      Tensor sm, Tensor si, Tensor tdy, Tensor tdx, Tensor dg, Tensor db, NDArray xt, NDArray g,
      NDArray b, NDArray trm, NDArray trv, float[] dy, String shape) {
    Ops.batchnormForward(ctx, tx, tg, tb, rm, rv, ty, sm, si, true, MOMENTUM, EPS, Activation.SWISH);
    Ops.batchnormBackward(ctx, tx, tg, tb, tdy, sm, si, tdx, dg, db, true, Activation.SWISH);
    float[] y = ty.read();
    float[] dx = tdx.read();
    try (NDManager sub = m.newSubManager()) {
      NDArray xv = xt.duplicate();
      xv.attach(sub);
      xv.setRequiresGradient(true);
      NDArray ref;
      try (GradientCollector gc = Engine.getEngine("PyTorch").newGradientCollector()) {
        NDArray bn =
            BatchNorm.batchNorm(xv, trm.duplicate(), trv.duplicate(), g, b, -1, 1 - MOMENTUM, EPS, true)
                .singletonOrThrow();
        ref = bn.mul(ai.djl.nn.Activation.sigmoid(bn));
        long[] nhwc = {ref.getShape().get(0), ref.getShape().get(2), ref.getShape().get(3), ref.getShape().get(1)};
        gc.backward(ref.mul(sub.create(dy, new Shape(nhwc)).transpose(0, 3, 1, 2)).sum());
      }
      float[] yRef = ref.transpose(0, 2, 3, 1).toFloatArray();
      float[] dxRef = xv.getGradient().transpose(0, 2, 3, 1).toFloatArray();
      double yErr = maxDiff(y, yRef);
      double dxErr = maxDiff(dx, dxRef);
      double dxMax = 0;
      for (float v : dxRef) {
        dxMax = Math.max(dxMax, Math.abs(v));
      }
      if (yErr > 1e-4 || dxErr > 1e-3 * dxMax) {
        throw new IllegalStateException(
            shape + ": disagrees with PyTorch (y " + yErr + ", dx " + dxErr + " of " + dxMax + "); not timing it");
      }
    }
  }

  /**
   * One {forward, backward} timing (ms) of torch batch_norm followed by act, on a copy of x
   * (same layout) owned by a per-round manager, so every intermediate is freed each round.
   */
  private static double[] torchRound(
      NDManager base, NDArray x, NDArray g, NDArray b, NDArray rm, NDArray rv,
      Function<NDArray, NDArray> act) {
    try (NDManager sub = base.newSubManager()) {
      NDArray xf = x.duplicate(); // keeps x's strides (NCHW or channels-last)
      xf.attach(sub);
      long t0 = System.nanoTime();
      act.apply(BatchNorm.batchNorm(xf, rm, rv, g, b, -1, 1 - MOMENTUM, EPS, true).singletonOrThrow());
      long t1 = System.nanoTime();
      NDArray xg = x.duplicate();
      xg.attach(sub);
      xg.setRequiresGradient(true);
      NDArray dy = x.duplicate(); // the incoming gradient, made before timing, in y's layout
      dy.attach(sub);
      g.setRequiresGradient(true);
      b.setRequiresGradient(true);
      long t2;
      long t3;
      try (GradientCollector recording = Engine.getEngine("PyTorch").newGradientCollector()) {
        NDArray yg =
            act.apply(BatchNorm.batchNorm(xg, rm, rv, g, b, -1, 1 - MOMENTUM, EPS, true).singletonOrThrow());
        t2 = System.nanoTime();
        JniUtils.backward((PtNDArray) yg, (PtNDArray) dy, false, false);
        t3 = System.nanoTime();
      }
      g.setRequiresGradient(false);
      b.setRequiresGradient(false);
      return new double[] {(t1 - t0) / 1e6, (t3 - t2) / 1e6};
    }
  }

  private static double time(Runnable op) {
    long t0 = System.nanoTime();
    op.run();
    return (System.nanoTime() - t0) / 1e6;
  }

  private static double min(double[] a) {
    return Arrays.stream(a).min().orElse(Double.NaN);
  }

  private static double maxDiff(float[] a, float[] b) {
    double m = 0;
    for (int i = 0; i < a.length; i++) {
      m = Math.max(m, Math.abs(a[i] - b[i]));
    }
    return m;
  }

  private static double med(double[] a) {
    double[] s = a.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }
}
