package org.effiseg.export;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import org.effiseg.model.EffiSegNet;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Tensor;
import org.effiseg.testing.OrtModel;
import org.effiseg.testing.Rand;
import org.effiseg.train.TrainConfig;
import org.effiseg.weights.Checkpoint;
import org.effiseg.weights.CheckpointModel;

/**
 * EffiSegNet inference on CPU: effiseg against ONNX Runtime running effiseg's own export of the
 * same weights — EffiSegNet-B0 at 224x224 batch 1 and 8, B4 at 380x380 batch 1 — in one process,
 * same thread count, same input, iterations interleaved so both see the same machine load. Each
 * case first checks that the two agree (max |logit diff| within 1e-4 of the logits' range), then
 * reports the median latency, images/s and the ratio effiseg / ORT (below 1: effiseg faster).
 * ORT: every graph optimisation, intra-op threads = the thread count, sequential execution, its
 * default spinning; effiseg: {@code Context.cpu(threads)}. Weights are random (same for both);
 * inputs stay resident on both sides. Every timed call waits {@code settle-ms} (default 100) of
 * idle first: both engines leave their worker threads spinning after a call, and on a small
 * machine a call made straight after the other peer's would share its cores with those threads
 * (docs/benchmarks.md, "Why the pause"). With one thread the times are the calling thread's CPU
 * time (both peers compute on it), which a loaded machine disturbs far less than wall time.
 *
 * <pre>
 * mvn -o -q test-compile dependency:build-classpath -Dmdep.outputFile=target/test.cp -Dmdep.includeScope=test
 * java -cp target/classes:target/test-classes:$(cat target/test.cp) org.effiseg.export.OrtBench [threads] [iterations] [settle-ms]
 * </pre>
 * (scripts/bench-cpu.sh runs it.)
 */
public final class OrtBench {
  private OrtBench() {}

  private record Case(String variant, int size, int batch) {}

  private static final Case[] CASES = {new Case("b0", 224, 1), new Case("b0", 224, 8), new Case("b4", 380, 1)};

  public static void main(String[] args)
      throws OrtException, java.io.IOException, InterruptedException {
    int threads = args.length > 0 ? Integer.parseInt(args[0]) : 2;
    int iterations = args.length > 1 ? Integer.parseInt(args[1]) : 10;
    int settleMs = args.length > 2 ? Integer.parseInt(args[2]) : 100;
    System.out.printf(Locale.ROOT, "EffiSegNet inference, effiseg vs ONNX Runtime %s (CPU), %d thread(s) each, median %s of %d interleaved iterations after 2 warm-ups, %d ms idle before each call%n%n",
        OrtEnvironment.getEnvironment().getVersion(), threads, threads == 1 ? "thread CPU time" : "wall time", iterations, settleMs);
    System.out.println("| case | effiseg ms | ORT ms | effiseg images/s | ORT images/s | ratio effiseg / ORT |");
    System.out.println("|---|---|---|---|---|---|");
    String loaded = null;
    Checkpoint checkpoint = null;
    for (Case k : CASES) {
      if (!k.variant().equals(loaded)) {
        checkpoint = RandomCheckpoints.of(RandomCheckpoints.config(k.variant(), 0), 1);
        loaded = k.variant();
      }
      run(checkpoint, k, threads, iterations, settleMs);
    }
  }

  private static void run(Checkpoint c, Case k, int threads, int iterations, int settleMs)
      throws OrtException, java.io.IOException, InterruptedException {
    TrainConfig config = TrainConfig.fromJson(c.configJson());
    byte[] model = OnnxExport.build(c, CheckpointModel.of(c, java.nio.file.Path.of("test.safetensors")), "bench", new OnnxExport.Options(k.size(), 0, OnnxExport.DEFAULT_OPSET))
        .model().toByteArray();
    int n = k.batch();
    int s = k.size();
    float[] nhwc = new Rand(7).normal(n * s * s * 3, 1.0);
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (OrtModel ort = new OrtModel(model, threads);
        Context ctx = Context.cpu(threads);
        EffiSegNet net = EffiSegNet.create(ctx, config.modelConfig());
        Tensor x = ctx.tensor(nhwc, n, s, s, 3);
        OnnxTensor input = OnnxTensor.createTensor(env, FloatBuffer.wrap(OrtModel.nchw(nhwc, n, s, s, 3)),
            new long[] {n, 3, s, s})) {
      net.loadStateDict(c.model(), true);
      float[] ours;
      try (Tensor y = net.forward(x, false)) {
        ours = y.read();
      }
      OrtModel.assertWithinRange("validation " + k, ort.run(OrtModel.nchw(nhwc, n, s, s, 3), n, 3, s, s), ours, 1e-4);
      OrtSession session = ort.session();
      Map<String, OnnxTensor> feed = Map.of(OnnxExport.INPUT, input);
      double[] effiseg = new double[iterations];
      double[] onnx = new double[iterations];
      for (int i = -2; i < iterations; i++) {
        // alternate which peer goes first, so neither always inherits the other's warm caches
        for (int side = 0; side < 2; side++) {
          boolean oursNow = (side == 0) == (i % 2 == 0);
          Thread.sleep(settleMs);
          long t0 = now(threads);
          if (oursNow) {
            net.forward(x, false).close();
          } else {
            session.run(feed).close();
          }
          double ms = (now(threads) - t0) / 1e6;
          if (i >= 0) {
            (oursNow ? effiseg : onnx)[i] = ms;
          }
        }
      }
      double a = median(effiseg);
      double b = median(onnx);
      System.out.printf(Locale.ROOT, "| EffiSegNet-%s %dx%d batch %d | %.1f | %.1f | %.1f | %.1f | **%.2f×** |%n",
          k.variant().toUpperCase(Locale.ROOT), s, s, n, a, b, n * 1000 / a, n * 1000 / b, a / b);
    }
  }

  /**
   * Nanoseconds: wall clock, or with one thread the calling thread's CPU time — both peers then
   * compute on the calling thread, and time spent waiting for a core on a shared machine is left
   * out (the robust per-core comparison).
   */
  private static long now(int threads) {
    return threads == 1 ? THREAD_CPU.getCurrentThreadCpuTime() : System.nanoTime();
  }

  private static final java.lang.management.ThreadMXBean THREAD_CPU =
      java.lang.management.ManagementFactory.getThreadMXBean();

  private static double median(double[] v) {
    double[] sorted = v.clone();
    Arrays.sort(sorted);
    int m = sorted.length / 2;
    return sorted.length % 2 == 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
  }
}
