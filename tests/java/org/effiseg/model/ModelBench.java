package org.effiseg.model;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.NativeMemory;
import org.effiseg.nativeapi.Ops;
import org.effiseg.nativeapi.Tensor;
import org.effiseg.testing.Rand;
import org.effiseg.testing.TorchOracle;

/**
 * EffiSegNet-B0 at 224x224 on CPU: effiseg against the same network in PyTorch ops (DJL,
 * {@link TorchEffiSegNet}), same weights, same process, same thread count. Times inference at
 * batch 1 and 8 and one training step at batch 8 (forward, DiceCE, backward, AdamW), median of
 * the iterations after warm-up, and checks the two agree first. Peak RSS (VmHWM) is per process,
 * so for memory run one side per process ({@code effiseg} or {@code torch} as the third
 * argument).
 *
 * <pre>
 * mvn -o -q test-compile dependency:build-classpath -Dmdep.outputFile=target/test.cp -Dmdep.includeScope=test
 * GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184 \
 *   java -cp target/classes:target/test-classes:$(cat target/test.cp) \
 *   -DPYTORCH_VERSION=2.7.1 -DPYTORCH_FLAVOR=cpu -Dai.djl.offline=true \
 *   -DENGINE_CACHE_DIR=target/djl-cache org.effiseg.model.ModelBench [threads] [iterations] [both|effiseg|torch]
 * </pre>
 */
public final class ModelBench {
  private ModelBench() {}

  static final float LR = 1e-4f, BETA1 = 0.9f, BETA2 = 0.999f, EPS = 1e-8f, WD = 1e-2f;

  public static void main(String[] args) throws IOException {
    int threads = args.length > 0 ? Integer.parseInt(args[0]) : 2;
    int iterations = args.length > 1 ? Integer.parseInt(args[1]) : 5;
    String which = args.length > 2 ? args[2] : "both";
    boolean ours = !which.equals("torch");
    boolean theirs = !which.equals("effiseg");
    int size = 224;
    EffiSegNetConfig cfg = EffiSegNetConfig.of(EfficientNetVariant.B0).withDropConnectRate(0f);
    Rand rand = new Rand(1);
    float[] img8 = rand.normal(8 * size * size * 3, 1.0);
    float[] img1 = Arrays.copyOf(img8, size * size * 3);
    float[] tgt8 = new float[8 * size * size];
    for (int b = 0; b < 8; b++) {
      for (int i = 0; i < size; i++) {
        for (int j = 0; j < size; j++) {
          tgt8[(b * size + i) * size + j] = Math.hypot(i - 100 - 5 * b, j - 120) < 60 ? 1f : 0f;
        }
      }
    }
    String version = "-";
    if (theirs) {
      Engine engine = Engine.getEngine("PyTorch");
      JniUtils.setNumThreads(threads);
      version = engine.getVersion();
    }
    System.out.printf(Locale.ROOT, "EffiSegNet-B0 %dx%d, %d threads, PyTorch %s, %s%n",
        size, size, threads, version, which);

    try (Context ctx = Context.cpu(threads);
        EffiSegNet net = EffiSegNet.create(ctx, cfg);
        TorchOracle torch = theirs ? new TorchOracle() : null) {
      StateDict sd = net.stateDict();
      TorchEffiSegNet ref = theirs ? new TorchEffiSegNet(torch, cfg, sd, false) : null;
      if (ours && theirs) {
        validate(ctx, net, ref, torch, img1, size);
      }
      for (int n : new int[] {1, 8}) {
        float[] img = n == 1 ? img1 : img8;
        int batch = n;
        try (Tensor x = ctx.tensor(img, n, size, size, 3)) {
          double[] ms = interleaved(iterations, ours ? () -> net.forward(x, false).close() : null,
              theirs ? () -> {
                try (NDManager m = torch.manager().newSubManager()) {
                  NDArray tx = m.create(img, new ai.djl.ndarray.types.Shape(batch, size, size, 3))
                      .transpose(0, 3, 1, 2);
                  ref.forward(tx, false, null).toFloatArray();
                }
              } : null);
          report("inference batch " + n, ms);
        }
      }
      try (Tensor x = ctx.tensor(img8, 8, size, size, 3);
          Tensor t = ctx.tensor(tgt8, 8, size, size, 1);
          Tensor terms = ctx.tensor(4)) {
        long[] step = {0};
        long[] peakNative = {0};
        Runnable effiseg = () -> {
          Tensor logits = net.forward(x, true);
          peakNative[0] = Math.max(peakNative[0], NativeMemory.liveBytes());
          Tensor dl = ctx.tensor(logits.shape());
          Ops.segLoss(ctx, logits, t, terms, dl, 1f, 1f, 0f, 1);
          logits.close();
          net.backward(dl);
          dl.close();
          ParameterBlock p = net.parameters();
          Ops.adamwStep(ctx, p.weights(), p.grads(), p.expAvg(), p.expAvgSq(), LR, BETA1, BETA2,
              EPS, WD, ++step[0]);
          terms.read();
        };
        Runnable pytorch = theirs ? torchTrainStep(net, ref, torch, img8, tgt8, size) : null;
        // A sampler thread records the peak of live native tensor bytes during the steps.
        long[] sampled = {0};
        Thread sampler = new Thread(() -> {
          while (!Thread.currentThread().isInterrupted()) {
            sampled[0] = Math.max(sampled[0], NativeMemory.liveBytes());
            try {
              Thread.sleep(0, 200_000);
            } catch (InterruptedException e) {
              return;
            }
          }
        });
        sampler.setDaemon(true);
        sampler.start();
        report("train step batch 8", interleaved(iterations, ours ? effiseg : null, pytorch));
        sampler.interrupt();
        if (ours) {
          System.out.printf(Locale.ROOT,
              "effiseg native tensor bytes: %.0f MiB at the end of the training forward,"
                  + " %.0f MiB peak sampled during the steps%n",
              peakNative[0] / 1048576.0, sampled[0] / 1048576.0);
        }
      }
    }
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmHWM") || line.startsWith("VmRSS")) {
        System.out.println(line);
      }
    }
  }

  /** One PyTorch training step: autograd forward/backward, then AdamW on each tensor. */
  private static Runnable torchTrainStep(
      EffiSegNet net, TorchEffiSegNet ref, TorchOracle torch, float[] img8, float[] tgt8, int size) {
    List<String> names = net.parameters().layout().entries().stream()
        .filter(ParameterLayout.Entry::trainable).map(ParameterLayout.Entry::name).toList();
    NDArray[] m1 = new NDArray[names.size()];
    NDArray[] m2 = new NDArray[names.size()];
    for (int i = 0; i < m1.length; i++) {
      m1[i] = ref.param(names.get(i)).zerosLike();
      m2[i] = ref.param(names.get(i)).zerosLike();
    }
    NDArray tt = torch.fromNhwc(tgt8, 8, size, size, 1);
    long[] step = {0};
    return () -> {
      try (NDManager m = torch.manager().newSubManager()) {
        NDArray tx = m.create(img8, new ai.djl.ndarray.types.Shape(8, size, size, 3))
            .transpose(0, 3, 1, 2);
        try (GradientCollector gc = TorchOracle.record()) {
          NDArray loss = TorchEffiSegNet.diceCe(ref.forward(tx, true, null), tt);
          gc.backward(loss);
        }
        step[0]++;
        double bc1 = 1 - Math.pow(BETA1, step[0]), bc2 = 1 - Math.pow(BETA2, step[0]);
        for (int i = 0; i < m1.length; i++) {
          NDArray w = ref.param(names.get(i));
          NDArray g = w.getGradient();
          w.muli(1 - LR * WD);
          m1[i].muli(BETA1).addi(g.mul(1 - BETA1));
          m2[i].muli(BETA2).addi(g.mul(g).muli(1 - BETA2));
          NDArray denom = m2[i].div(bc2).sqrt().addi(EPS);
          w.subi(m1[i].div(denom).muli(LR / bc1));
        }
      }
    };
  }

  private static void validate(
      Context ctx, EffiSegNet net, TorchEffiSegNet ref, TorchOracle torch, float[] img, int size) {
    try (Tensor x = ctx.tensor(img, 1, size, size, 3);
        Tensor y = net.forward(x, false)) {
      float[] a = y.read();
      float[] e = TorchOracle.toNhwc(ref.forward(torch.fromNhwc(img, 1, size, size, 3), false, null));
      double worst = 0, scale = 0;
      for (int i = 0; i < a.length; i++) {
        worst = Math.max(worst, Math.abs(a[i] - e[i]));
        scale = Math.max(scale, Math.abs(e[i]));
      }
      System.out.printf(Locale.ROOT, "validation: max |diff| %.2e of max |logit| %.2e%n", worst, scale);
      if (worst > 1e-3 * scale + 1e-5) {
        throw new IllegalStateException("effiseg and PyTorch disagree; not timing");
      }
    }
  }

  /** Medians of a and b, run alternately (so both see the same machine load); null: skipped. */
  private static double[] interleaved(int iterations, Runnable a, Runnable b) {
    double[][] ms = new double[2][iterations];
    Runnable[] r = {a, b};
    for (int i = -1; i < iterations; i++) { // i = -1: warm-up
      for (int k = 0; k < 2; k++) {
        if (r[k] != null) {
          long t0 = System.nanoTime();
          r[k].run();
          if (i >= 0) {
            ms[k][i] = (System.nanoTime() - t0) / 1e6;
          }
        }
      }
    }
    double[] med = new double[2];
    for (int k = 0; k < 2; k++) {
      Arrays.sort(ms[k]);
      med[k] = r[k] == null ? Double.NaN : ms[k][iterations / 2];
    }
    return med;
  }

  private static void report(String what, double[] ms) {
    System.out.printf(Locale.ROOT, "%-20s effiseg %8.1f ms   pytorch %8.1f ms   ratio %.2f%n",
        what, ms[0], ms[1], ms[0] / ms[1]);
  }
}
