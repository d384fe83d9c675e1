package org.effiseg.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.training.GradientCollector;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.ConvSpec;
import org.effiseg.nativeapi.Ops;
import org.effiseg.nativeapi.Tensor;
import org.effiseg.testing.Rand;

/**
 * CPU benchmark of 2-D convolution at EffiSegNet-B0 shapes (batch 8, 224x224 input): effiseg
 * against PyTorch (DJL, CPU) in the same process and run, forward and backward (dx + dw), as
 * median milliseconds and ratios effiseg / PyTorch (below 1 means effiseg is faster). Not a unit
 * test; the project's op benchmark can call {@link #run(int)}.
 *
 * <p>By default both sides use all cores (effiseg: {@code Context.cpu(0)}; PyTorch: its default
 * intra-op thread count) and times are wall-clock. With {@code threads = 1} both run on the
 * calling thread and times are that thread's CPU time, which leaves out time spent waiting for
 * a core: the robust per-core comparison on a machine shared with other work. Repetitions
 * interleave the peers so that load from other processes hits them alike.
 *
 * <p>PyTorch runs both NCHW (its default, what the reference model uses) and channels-last (our
 * layout); each direction is compared against the faster of the two. It pads symmetrically
 * (TensorFlow SAME's extra bottom/right row would need a separate pad copy in PyTorch, which is
 * not charged to it). Its backward time is that of autograd's backward call alone, with an
 * all-ones output gradient. Before a shape is timed, our forward result is checked against
 * PyTorch's (padded exactly like ours) on the same data. For depthwise shapes the table also
 * gives our forward pass's effective bandwidth (fastest repetition) over the minimum traffic
 * (read x once, write y once), next to a measured stream bandwidth (es_add).
 *
 * <p>Run (after {@code mvn -o test-compile}), with the allocator settings PyTorch needs for
 * stable timings (see ../shared/TOOLCHAIN.md):
 *
 * <pre>
 * mvn -q -o dependency:build-classpath -Dmdep.outputFile=target/test.cp -Dmdep.includeScope=test
 * GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184 \
 *   java --enable-native-access=ALL-UNNAMED -cp target/classes:target/test-classes:$(cat target/test.cp) \
 *   -DPYTORCH_VERSION=2.7.1 -DPYTORCH_FLAVOR=cpu -Dai.djl.offline=true \
 *   -DENGINE_CACHE_DIR=target/djl-cache -DDJL_CACHE_DIR=target/djl-cache \
 *   org.effiseg.bench.ConvBench [repetitions [threads]]
 * </pre>
 */
public final class ConvBench {
  private ConvBench() {}

  /** A convolution at batch 8: input h x w x cin, k x k kernel, TensorFlow SAME padding. */
  public record Shape2d(String name, int h, int w, int cin, int cout, int k, int stride, int groups) {
    static Shape2d depthwise(int hw, int c, int k, int stride) {
      return new Shape2d("depthwise", hw, hw, c, c, k, stride, c);
    }

    static Shape2d pointwise(int hw, int cin, int cout) {
      return new Shape2d("pointwise", hw, hw, cin, cout, 1, 1, 1);
    }

    static Shape2d dense(String name, int hw, int cin, int cout, int k, int stride) {
      return new Shape2d(name, hw, hw, cin, cout, k, stride, 1);
    }

    boolean isDepthwise() {
      return groups == cin && groups == cout && groups > 1;
    }

    @Override
    public String toString() {
      return String.format("%s %dx%dx%d %dx%d/%d%s", name, h, w, cin, k, k, stride,
          isDepthwise() ? "" : " ->" + cout);
    }
  }

  /** Median and best times in milliseconds; PyTorch's in its faster layout for that direction. */
  public record Row(Shape2d shape, double effisegForward, double torchForward,
      double effisegBackward, double torchBackward, double effisegForwardBest,
      double torchForwardBest, double effisegBackwardBest, double torchBackwardBest,
      String torchForwardLayout, String torchBackwardLayout) {}

  public static final int BATCH = 8;

  /** 0: all cores, wall-clock; 1: one thread each, timed in thread CPU time. */
  private static int threads = 0;

  private static final ThreadMXBean THREAD_MX = ManagementFactory.getThreadMXBean();

  private static long now() {
    return threads == 1 ? THREAD_MX.getCurrentThreadCpuTime() : System.nanoTime();
  }

  public static List<Shape2d> b0Shapes() {
    return List.of(
        Shape2d.depthwise(112, 32, 3, 1),
        Shape2d.depthwise(112, 96, 3, 2),
        Shape2d.depthwise(56, 144, 3, 1),
        Shape2d.depthwise(56, 144, 5, 2),
        Shape2d.depthwise(28, 240, 5, 1),
        Shape2d.depthwise(14, 480, 3, 1),
        Shape2d.depthwise(14, 672, 5, 1),
        Shape2d.depthwise(7, 1152, 5, 1),
        Shape2d.depthwise(7, 1152, 3, 1),
        Shape2d.pointwise(112, 32, 16),
        Shape2d.pointwise(112, 16, 96),
        Shape2d.pointwise(56, 144, 24),
        Shape2d.pointwise(28, 240, 40),
        Shape2d.pointwise(14, 480, 80),
        Shape2d.pointwise(7, 1152, 192),
        Shape2d.dense("stem", 224, 3, 32, 3, 2),
        Shape2d.dense("decoder", 112, 16, 32, 3, 1),
        Shape2d.dense("decoder", 28, 40, 32, 3, 1),
        Shape2d.dense("decoder", 7, 320, 32, 3, 1));
  }

  public static void main(String[] args) {
    int reps = args.length > 0 ? Integer.parseInt(args[0]) : 10;
    threads = args.length > 1 ? Integer.parseInt(args[1]) : 0;
    if (threads > 0) {
      System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(threads));
      System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
    }
    if (System.getenv("GLIBC_TUNABLES") == null) {
      System.out.println("note: GLIBC_TUNABLES is not set; PyTorch timings may include "
          + "page faults of freshly mapped blocks (see the class comment)");
    }
    try (Context ctx = Context.cpu(threads)) {
      System.out.printf("effiseg threads %d, PyTorch %s, %d processors, batch %d, %d repetitions,"
              + " %s%n",
          ctx.threads(), Engine.getEngine("PyTorch").getVersion(),
          Runtime.getRuntime().availableProcessors(), BATCH, reps,
          threads == 1 ? "thread CPU time" : "wall-clock time");
      System.out.printf("stream bandwidth (es_add, 3 x 64 MB): %.1f GB/s%n", streamBandwidth(ctx));
    }
    List<Row> rows = run(reps);
    System.out.println("median ms (ratio = effiseg / PyTorch); 'best' = ratio of the fastest"
        + " repetitions, less sensitive to load from other processes");
    System.out.printf("%-36s %7s %7s %-4s %5s  %7s %7s %-4s %5s  %5s %5s  %s%n",
        "shape (batch 8, SAME)", "fwd", "torch", "", "ratio", "bwd", "torch", "", "ratio", "best",
        "best", "fwd GB/s");
    for (Row r : rows) {
      Shape2d s = r.shape();
      String bandwidth = "";
      if (s.isDepthwise()) {
        ConvSpec spec = ConvSpec.same(s.h(), s.w(), s.k(), s.k(), s.stride(), s.groups());
        double bytes = 4.0 * BATCH * s.cin()
            * ((double) s.h() * s.w() + (double) spec.outH(s.h(), s.k()) * spec.outW(s.w(), s.k()));
        bandwidth = String.format("%.1f", bytes / (r.effisegForwardBest() * 1e6));
      }
      System.out.printf("%-36s %7.2f %7.2f %-4s %5.2f  %7.2f %7.2f %-4s %5.2f  %5.2f %5.2f  %s%n",
          s, r.effisegForward(), r.torchForward(), r.torchForwardLayout(),
          r.effisegForward() / r.torchForward(), r.effisegBackward(), r.torchBackward(),
          r.torchBackwardLayout(), r.effisegBackward() / r.torchBackward(),
          r.effisegForwardBest() / r.torchForwardBest(),
          r.effisegBackwardBest() / r.torchBackwardBest(), bandwidth);
    }
  }

  /** Times every B0 shape; each repetition runs effiseg and PyTorch back to back. */
  public static List<Row> run(int reps) {
    List<Row> rows = new ArrayList<>();
    try (Context ctx = Context.cpu(threads);
        NDManager manager = Engine.getEngine("PyTorch").newBaseManager()) {
      for (Shape2d s : b0Shapes()) {
        rows.add(time(ctx, manager, s, reps));
      }
    }
    return rows;
  }

  private static Row time(Context ctx, NDManager manager, Shape2d s, int reps) {
    ConvSpec spec = ConvSpec.same(s.h(), s.w(), s.k(), s.k(), s.stride(), s.groups());
    int oh = spec.outH(s.h(), s.k()), ow = spec.outW(s.w(), s.k());
    int cing = s.cin() / s.groups();
    long[] xShape = {BATCH, s.h(), s.w(), s.cin()};
    long[] wShape = {s.k(), s.k(), cing, s.cout()};
    long[] yShape = {BATCH, oh, ow, s.cout()};
    Rand rand = new Rand(1);
    float[] xData = rand.uniform(Rand.size(xShape), -1, 1);
    float[] wData = rand.uniform(Rand.size(wShape), -1, 1);
    String[] layouts = {"nchw", "cl"};
    double[][] t = new double[6][reps]; // ours fwd, ours bwd, torch fwd (2 layouts), bwd (2)
    try (Tensor x = ctx.tensor(xData, xShape);
        Tensor w = ctx.tensor(wData, wShape);
        Tensor y = ctx.tensor(yShape);
        Tensor dy = ctx.tensor(rand.uniform(Rand.size(yShape), -1, 1), yShape);
        Tensor dx = ctx.tensor(xShape);
        Tensor dw = ctx.tensor(wShape);
        NDManager m = manager.newSubManager()) {
      // the same numbers for PyTorch: NCHW-contiguous, and our NHWC memory viewed as NCHW
      NDArray[] tx = {
        m.create(toChannelsFirst(xData, BATCH, s.h() * s.w(), s.cin()),
            new Shape(BATCH, s.cin(), s.h(), s.w())),
        m.create(xData, new Shape(xShape)).transpose(0, 3, 1, 2)
      };
      NDArray tw = m.create(hwioToOihw(wData, s.k() * s.k(), cing, s.cout()),
          new Shape(s.cout(), cing, s.k(), s.k()));
      Shape stride = new Shape(s.stride(), s.stride());
      Shape pad = new Shape(s.k() / 2, s.k() / 2);
      Shape dilation = new Shape(1, 1);
      validate(ctx, x, w, y, spec, m, tx[0], tw, s);
      for (int r = -2; r < reps; r++) { // two warm-up rounds
        long t0 = now();
        Ops.conv2dForward(ctx, x, w, null, y, spec);
        long t1 = now();
        Ops.conv2dBackward(ctx, x, w, dy, dx, dw, null, spec);
        long t2 = now();
        double[] torch = new double[4];
        for (int l = 0; l < 2; l++) {
          long t3 = now();
          try (NDManager step = m.newSubManager()) {
            Conv2d.conv2d(tx[l], tw, null, stride, pad, dilation, s.groups())
                .singletonOrThrow()
                .tempAttach(step);
          }
          torch[l] = (now() - t3) / 1e6;
          try (NDManager step = m.newSubManager();
              GradientCollector gc = Engine.getEngine("PyTorch").newGradientCollector()) {
            tx[l].setRequiresGradient(true);
            tw.setRequiresGradient(true);
            NDArray out = Conv2d.conv2d(tx[l], tw, null, stride, pad, dilation, s.groups())
                .singletonOrThrow();
            out.tempAttach(step);
            long t4 = now();
            gc.backward(out);
            torch[2 + l] = (now() - t4) / 1e6;
          } finally {
            tx[l].setRequiresGradient(false);
            tw.setRequiresGradient(false);
          }
        }
        if (r >= 0) {
          t[0][r] = (t1 - t0) / 1e6;
          t[1][r] = (t2 - t1) / 1e6;
          for (int i = 0; i < 4; i++) {
            t[2 + i][r] = torch[i];
          }
        }
      }
    }
    int f = median(t[2]) <= median(t[3]) ? 2 : 3;
    int b = median(t[4]) <= median(t[5]) ? 4 : 5;
    return new Row(s, median(t[0]), median(t[f]), median(t[1]), median(t[b]), min(t[0]),
        min(t[f]), min(t[1]), min(t[b]), layouts[f - 2], layouts[b - 4]);
  }

  /** a as [n, p, c] (row-major) rearranged to [n, c, p]. */
  private static float[] toChannelsFirst(float[] a, int n, int p, int c) {
    float[] out = new float[a.length];
    for (int i = 0; i < n; i++) {
      for (int j = 0; j < p; j++) {
        for (int k = 0; k < c; k++) {
          out[(i * c + k) * p + j] = a[(i * p + j) * c + k];
        }
      }
    }
    return out;
  }

  /** Weights [taps, cin_g, cout] (HWIO) as [cout, cin_g, taps] (PyTorch's OIHW). */
  private static float[] hwioToOihw(float[] a, int taps, int cing, int cout) {
    float[] out = new float[a.length];
    for (int t = 0; t < taps; t++) {
      for (int i = 0; i < cing; i++) {
        for (int o = 0; o < cout; o++) {
          out[(o * cing + i) * taps + t] = a[(t * cing + i) * cout + o];
        }
      }
    }
    return out;
  }

  /** Our forward against PyTorch's on the same data, padded exactly like ours (SAME). */
  private static void validate(Context ctx, Tensor x, Tensor w, Tensor y, ConvSpec spec,
      NDManager m, NDArray xNchw, NDArray tw, Shape2d s) {
    Ops.conv2dForward(ctx, x, w, null, y, spec);
    float[] ours = y.read();
    try (NDManager sub = m.newSubManager()) {
      NDArray padded = xNchw.pad(
          new Shape(spec.padLeft(), spec.padRight(), spec.padTop(), spec.padBottom()), 0);
      padded.tempAttach(sub);
      NDArray ref = Conv2d.conv2d(padded, tw, null, new Shape(s.stride(), s.stride()),
              new Shape(0, 0), new Shape(1, 1), s.groups())
          .singletonOrThrow();
      ref.tempAttach(sub);
      NDArray refNhwc = ref.transpose(0, 2, 3, 1);
      refNhwc.tempAttach(sub);
      float[] expected = refNhwc.toFloatArray();
      for (int i = 0; i < ours.length; i++) {
        // float32 sums of up to k*k*cin_g terms of magnitude <= 1 on both sides
        if (!(Math.abs(ours[i] - expected[i]) <= 1e-3 * (1 + Math.abs(expected[i])))) {
          throw new IllegalStateException(s + ": forward disagrees with PyTorch at element " + i
              + ": " + ours[i] + " vs " + expected[i]);
        }
      }
    }
  }

  private static double streamBandwidth(Context ctx) {
    int n = 16 << 20;
    try (Tensor a = ctx.tensor(n);
        Tensor b = ctx.tensor(n);
        Tensor y = ctx.tensor(n)) {
      a.fill(1);
      b.fill(2);
      double[] t = new double[7];
      for (int r = -1; r < t.length; r++) {
        long t0 = now();
        Ops.add(ctx, a, b, y);
        if (r >= 0) {
          t[r] = (now() - t0) / 1e9;
        }
      }
      return 3.0 * 4 * n / median(t) / 1e9;
    }
  }

  private static double min(double[] v) {
    return Arrays.stream(v).min().orElse(Double.NaN);
  }

  private static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : 0.5 * (s[s.length / 2 - 1] + s[s.length / 2]);
  }
}
