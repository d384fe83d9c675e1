package org.effiseg.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Ops;
import org.effiseg.nativeapi.Tensor;
import org.effiseg.ops.SegLossReference;

/**
 * The fused loss (es_seg_loss, forward + backward) against the same loss composed from PyTorch
 * ops with autograd (MONAI-style Dice + BCE-with-logits + near-pixel-diff, see
 * {@link SegLossReference#torch}), at the training shape: batch 8, 224x224, weights 1/1/0.01,
 * d = 4. Both run in this process with the same thread count; prints median times and the
 * ratio fused / PyTorch. It validates the fused result against PyTorch before timing.
 *
 * <p>Run (after {@code mvn -o test-compile}):
 * <pre>
 * mvn -o -q dependency:build-classpath -Dmdep.outputFile=target/test.cp -Dmdep.includeScope=test
 * GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184 \
 *   java -cp target/classes:target/test-classes:$(cat target/test.cp) \
 *   -DPYTORCH_VERSION=2.7.1 -DPYTORCH_FLAVOR=cpu -Dai.djl.offline=true \
 *   -DENGINE_CACHE_DIR=target/djl-cache org.effiseg.bench.LossBench [threads] [iterations]
 * </pre>
 */
public final class LossBench {
  private LossBench() {}

  public static void main(String[] args) {
    int threads = args.length > 0 ? Integer.parseInt(args[0]) : 2;
    int iterations = args.length > 1 ? Integer.parseInt(args[1]) : 30;
    int n = 8, h = 224, w = 224, d = 4;
    float wDice = 1f, wBce = 1f, wNpd = 0.01f;

    SplittableRandom random = new SplittableRandom(42);
    float[] x = new float[n * h * w];
    float[] t = new float[n * h * w];
    for (int b = 0; b < n; b++) {
      for (int i = 0; i < h; i++) {
        for (int j = 0; j < w; j++) {
          int k = (b * h + i) * w + j;
          t[k] = Math.hypot(i - 100 - 5 * b, j - 120) < 60 ? 1f : 0f;
          x[k] = (float) ((t[k] > 0 ? 1.5 : -1.5) + 2 * random.nextGaussian());
        }
      }
    }

    Engine engine = Engine.getEngine("PyTorch");
    JniUtils.setNumThreads(threads);
    System.out.printf(
        "fused seg loss vs PyTorch %s composed ops, N=%d %dx%d, %d threads (PyTorch intra-op: %d)%n",
        engine.getVersion(), n, h, w, threads, JniUtils.getNumThreads());

    try (Context ctx = Context.cpu(threads);
        Tensor tx = ctx.tensor(x, n, h, w, 1);
        Tensor tt = ctx.tensor(t, n, h, w, 1);
        Tensor terms = ctx.tensor(4);
        Tensor dlogits = ctx.tensor(n, h, w, 1);
        NDManager base = engine.newBaseManager()) {
      NDArray target = base.create(t, new Shape(n, 1, h, w));

      // validate first: the fused result must agree with PyTorch
      Ops.segLoss(ctx, tx, tt, terms, dlogits, wDice, wBce, wNpd, d);
      float[] fusedTerms = terms.read();
      float[] fusedGrad = dlogits.read();
      float[] torchTerms = new float[4];
      float[] torchGrad;
      try (NDManager sub = base.newSubManager()) {
        NDArray xt = sub.create(x, new Shape(n, 1, h, w));
        xt.setRequiresGradient(true);
        try (GradientCollector gc = engine.newGradientCollector()) {
          NDArray[] r = SegLossReference.torch(xt, target, wDice, wBce, wNpd, d);
          for (int k = 0; k < 4; k++) {
            torchTerms[k] = r[k].getFloat();
          }
          gc.backward(r[0]);
        }
        torchGrad = xt.getGradient().toFloatArray();
      }
      double termErr = 0, gradErr = 0, gradMax = 0;
      for (int k = 0; k < 4; k++) {
        termErr = Math.max(termErr, Math.abs(fusedTerms[k] - torchTerms[k]) / Math.abs(torchTerms[k]));
      }
      for (int i = 0; i < fusedGrad.length; i++) {
        gradErr = Math.max(gradErr, Math.abs(fusedGrad[i] - torchGrad[i]));
        gradMax = Math.max(gradMax, Math.abs(torchGrad[i]));
      }
      System.out.printf(
          "terms fused %s%n      torch %s%nmax rel term diff %.2e, max grad diff %.2e of max |grad| %.2e%n",
          Arrays.toString(fusedTerms), Arrays.toString(torchTerms), termErr, gradErr, gradMax);
      if (termErr > 1e-4 || gradErr > 1e-3 * gradMax) {
        throw new IllegalStateException("fused loss disagrees with PyTorch; not timing it");
      }

      double[] fused = new double[iterations];
      double[] torch = new double[iterations];
      for (int it = -5; it < iterations; it++) { // 5 warm-up rounds
        long t0 = System.nanoTime();
        Ops.segLoss(ctx, tx, tt, terms, dlogits, wDice, wBce, wNpd, d);
        terms.read();
        long t1 = System.nanoTime();
        try (NDManager sub = base.newSubManager()) {
          NDArray xt = sub.create(x, new Shape(n, 1, h, w));
          xt.setRequiresGradient(true);
          long t2 = System.nanoTime(); // the upload of x is not counted
          try (GradientCollector gc = engine.newGradientCollector()) {
            NDArray[] r = SegLossReference.torch(xt, target, wDice, wBce, wNpd, d);
            for (int k = 0; k < 4; k++) {
              r[k].getFloat();
            }
            gc.backward(r[0]);
          }
          xt.getGradient();
          long t3 = System.nanoTime();
          if (it >= 0) {
            fused[it] = (t1 - t0) / 1e6;
            torch[it] = (t3 - t2) / 1e6;
          }
        }
      }
      double f = median(fused), p = median(torch);
      System.out.printf(
          "forward+backward median of %d: fused %.3f ms, PyTorch composed %.3f ms, ratio fused/PyTorch %.3f%n",
          iterations, f, p, f / p);
    }
  }

  private static double median(double[] a) {
    double[] s = a.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }
}
