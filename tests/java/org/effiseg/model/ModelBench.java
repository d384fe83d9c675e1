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
    Engine engine = Engine.getEngine("PyTorch");
    JniUtils.setNumThreads(threads);
    System.out.printf(Locale.ROOT, "EffiSegNet-B0 %dx%d, %d threads, PyTorch %s, %s%n",
        size, size, threads, engine.getVersion(), which);

    try (Context ctx = Context.cpu(threads);
        EffiSegNet net = EffiSegNet.create(ctx, cfg);
        TorchOracle torch = new TorchOracle()) {
      StateDict sd = net.stateDict();
      TorchEffiSegNet ref = new TorchEffiSegNet(torch, cfg, sd, false);
      if (ours && theirs) {
        validate(ctx, net, ref, torch, img1, size);
      }
      for (int n : new int[] {1, 8}) {
        float[] img = n == 1 ? img1 : img8;
        if (ours) {
          try (Tensor x = ctx.tensor(img, n, size, size, 3)) {
            double ms = time(iterations, () -> net.forward(x, false).close());
            System.out.printf(Locale.ROOT, "effiseg  inference batch %d: %8.1f ms%n", n, ms);
          }
        }
        if (theirs) {
          double ms = time(iterations, () -> {
            try (NDManager m = torch.manager().newSubManager()) {
              NDArray x = m.create(img, new ai.djl.ndarray.types.Shape(n, size, size, 3)).transpose(0, 3, 1, 2);
              ref.forward(x, false, null).toFloatArray();
            }
          });
          System.out.printf(Locale.ROOT, "pytorch  inference batch %d: %8.1f ms%n", n, ms);
        }
      }
      if (ours) {
        try (Tensor x = ctx.tensor(img8, 8, size, size, 3);
            Tensor t = ctx.tensor(tgt8, 8, size, size, 1);
            Tensor terms = ctx.tensor(4)) {
          long[] step = {0};
          double ms = time(iterations, () -> {
            Tensor logits = net.forward(x, true);
            Tensor dl = ctx.tensor(logits.shape());
            Ops.segLoss(ctx, logits, t, terms, dl, 1f, 1f, 0f, 1);
            logits.close();
            net.backward(dl);
            dl.close();
            ParameterBlock p = net.parameters();
            Ops.adamwStep(ctx, p.weights(), p.grads(), p.expAvg(), p.expAvgSq(), LR, BETA1, BETA2,
                EPS, WD, ++step[0]);
            terms.read();
          });
          System.out.printf(Locale.ROOT, "effiseg  train step batch 8: %8.1f ms%n", ms);
        }
      }
      if (theirs) {
        List<String> names = net.parameters().layout().entries().stream()
            .filter(ParameterLayout.Entry::trainable).map(ParameterLayout.Entry::name).toList();
        NDArray[] m1 = new NDArray[names.size()];
        NDArray[] m2 = new NDArray[names.size()];
        for (int i = 0; i < m1.length; i++) {
          m1[i] = ref.param(names.get(i)).zerosLike();
          m2[i] = ref.param(names.get(i)).zerosLike();
        }
        NDArray t = torch.fromNhwc(tgt8, 8, size, size, 1);
        long[] step = {0};
        double ms = time(iterations, () -> {
          try (NDManager m = torch.manager().newSubManager()) {
            NDArray x = m.create(img8, new ai.djl.ndarray.types.Shape(8, size, size, 3)).transpose(0, 3, 1, 2);
            try (GradientCollector gc = TorchOracle.record()) {
              NDArray loss = TorchEffiSegNet.diceCe(ref.forward(x, true, null), t);
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
        });
        System.out.printf(Locale.ROOT, "pytorch  train step batch 8: %8.1f ms%n", ms);
      }
    }
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmHWM") || line.startsWith("VmRSS")) {
        System.out.println(line);
      }
    }
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

  private static double time(int iterations, Runnable r) {
    r.run(); // warm-up
    double[] ms = new double[iterations];
    for (int i = 0; i < iterations; i++) {
      long t0 = System.nanoTime();
      r.run();
      ms[i] = (System.nanoTime() - t0) / 1e6;
    }
    Arrays.sort(ms);
    return ms[iterations / 2];
  }
}
