package org.effiseg.ops;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.training.GradientCollector;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.effiseg.nativeapi.Activation;
import org.effiseg.nativeapi.Backend;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.ConvSpec;
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
 * es_conv2d_forward / es_conv2d_backward on every backend: against a naive double-precision
 * reference, finite differences and PyTorch (DJL), over the kernel paths of the CPU backend —
 * pointwise (GEMM on the activations), dense and strided (tiled im2col + GEMM), dense stride 1
 * (per-tap row products; Winograd F(2x2, 3x3) for 3x3 on maps of >= 28x28), dense with a
 * reduction of at most 32 values such as the 3x3x3 stem (direct loops, forward and the weight
 * gradient), grouped, and depthwise (direct loops, with channel counts that hit the 32-wide,
 * 8-wide and scalar channel blocks, and rows wide enough for the 5x5 strips).
 *
 * <p>Tolerances. Inputs are uniform in [-1, 1], so every output or gradient element is a float32
 * sum of terms of magnitude <= 1: a few hundred for the small cases, up to 8192 (dw of the
 * threaded cases). Reordered float32 summation differs from the double reference (or from
 * PyTorch's order) by about eps32 * sqrt(terms) * |sum of terms| -- observed ~1e-6, at most a few
 * 1e-5 for the largest sums -- while any indexing mistake (a missing, duplicated or misplaced
 * term) shows up as an error of order 0.1-1. Hence abs 1e-4 + rel 1e-4 for those comparisons.
 */
@ExtendWith(NoNativeLeaks.class)
class Conv2dOpTest {
  private static final double ABS = 1e-4;
  private static final double REL = 1e-4;

  /** One convolution geometry; {@code same} means TensorFlow SAME, else symmetric {@code pad}. */
  record Case(
      String name, int n, int h, int w, int cin, int cout, int kh, int kw, int stride, boolean same,
      int pad, int groups, boolean bias) {

    ConvSpec spec() {
      return same
          ? ConvSpec.same(h, w, kh, kw, stride, groups)
          : ConvSpec.symmetric(pad, stride, groups);
    }

    int oh() {
      return spec().outH(h, kh);
    }

    int ow() {
      return spec().outW(w, kw);
    }

    long[] xShape() {
      return new long[] {n, h, w, cin};
    }

    long[] wShape() {
      return new long[] {kh, kw, cin / groups, cout};
    }

    long[] yShape() {
      return new long[] {n, oh(), ow(), cout};
    }

    @Override
    public String toString() {
      return name;
    }
  }

  static List<Case> cases() {
    List<Case> c = new ArrayList<>();
    c.add(new Case("pointwise 1x1, 7x9, bias", 2, 7, 9, 5, 6, 1, 1, 1, true, 0, 1, true));
    c.add(new Case("pointwise 1x1 stride 2, 7x9", 2, 7, 9, 5, 6, 1, 1, 2, true, 0, 1, false));
    // the CPU backend's direct pointwise backward (few weights): row tails, one output channel,
    // 16 + 8 output channels, 24 input channels
    c.add(new Case("pointwise 1x1 32->16, 9x13", 1, 9, 13, 32, 16, 1, 1, 1, true, 0, 1, false));
    c.add(new Case("pointwise 1x1 24->1, 5x7, bias", 2, 5, 7, 24, 1, 1, 1, 1, true, 0, 1, true));
    // the head's shape over more than one 512-row block, and a width without its own kernel
    c.add(new Case("pointwise 1x1 32->1, 30x31, bias", 1, 30, 31, 32, 1, 1, 1, 1, true, 0, 1, true));
    c.add(new Case("pointwise 1x1 40->1, 9x11", 2, 9, 11, 40, 1, 1, 1, 1, true, 0, 1, false));
    c.add(new Case("pointwise 1x1 16->24, 6x5", 2, 6, 5, 16, 24, 1, 1, 1, true, 0, 1, false));
    c.add(new Case("pointwise 1x1 48->56, 5x6 (every column block width)", 2, 5, 6, 48, 56, 1, 1, 1,
        true, 0, 1, true));
    c.add(new Case("3x3 s1 SAME, 13x11, bias", 2, 13, 11, 4, 5, 3, 3, 1, true, 0, 1, true));
    // dense stride 1 with channels in multiples of 8: per-tap row products (conv2d_taps.cpp)
    c.add(new Case("taps 3x3 s1 SAME 16->32, 7x9, bias", 2, 7, 9, 16, 32, 3, 3, 1, true, 0, 1, true));
    c.add(new Case("taps 3x3 s1 pad 1 24->8, wide 5x21", 1, 5, 21, 24, 8, 3, 3, 1, false, 1, 1, false));
    c.add(new Case("taps 5x5 s1 SAME 8->16, batch 1, 6x7", 1, 6, 7, 8, 16, 5, 5, 1, true, 0, 1, true));
    c.add(new Case("taps 3x3 s1 pad 0 8->40, 6x7", 2, 6, 7, 8, 40, 3, 3, 1, false, 0, 1, false));
    c.add(new Case("taps 3x3 s1 SAME 8->8 on 1x2 (kernel wider than input)", 2, 1, 2, 8, 8, 3, 3, 1,
        true, 0, 1, true));
    // dense 3x3 stride 1 on maps of >= 28x28: Winograd F(2x2, 3x3) forward and dx
    // (conv2d_winograd.cpp), dw per tap; odd sides end in half tiles, and padding 0 and 2 make
    // dx's padding 2 and 0
    c.add(new Case("winograd 3x3 s1 SAME 16->32, 28x31 (half tiles), bias", 1, 28, 31, 16, 32, 3, 3,
        1, true, 0, 1, true));
    c.add(new Case("winograd 3x3 s1 pad 0 8->16, 31x30 (29x28 out)", 1, 31, 30, 8, 16, 3, 3, 1,
        false, 0, 1, false));
    c.add(new Case("winograd 3x3 s1 pad 2 24->8, 27x26 (29x28 out), bias", 1, 27, 26, 24, 8, 3, 3,
        1, false, 2, 1, true));
    c.add(new Case("stem 3x3 s2 SAME, even 12x10 (pad bottom/right)", 1, 12, 10, 3, 8, 3, 3, 2,
        true, 0, 1, false));
    c.add(new Case("3x3 s2 SAME, odd 13x11, batch 1, bias", 1, 13, 11, 3, 8, 3, 3, 2, true, 0, 1,
        true));
    c.add(new Case("5x5 s2 symmetric pad 2, 9x8", 2, 9, 8, 3, 4, 5, 5, 2, false, 2, 1, true));
    // direct stem blocks of 16 and 8 channels and single ones, rows of 4k + 3 pixels
    c.add(new Case("stem 3x3 s2 SAME 3->20, 15x14, bias", 1, 15, 14, 3, 20, 3, 3, 2, true, 0, 1,
        true));
    c.add(new Case("stem 3x3 s2 SAME 3->24, 16x14 (direct dw in 8-float blocks)", 2, 16, 14, 3, 24,
        3, 3, 2, true, 0, 1, false));
    c.add(new Case("grouped 3x3 groups=2, 7x9", 2, 7, 9, 4, 6, 3, 3, 1, true, 0, 2, true));
    c.add(new Case("grouped pointwise groups=2", 2, 5, 3, 6, 4, 1, 1, 1, true, 0, 2, false));
    c.add(new Case("depthwise 3x3 s1 SAME, C=9, 7x9", 2, 7, 9, 9, 9, 3, 3, 1, true, 0, 9, false));
    c.add(new Case("depthwise 3x3 s2 SAME, C=41, 13x11, bias", 2, 13, 11, 41, 41, 3, 3, 2, true, 0,
        41, true));
    c.add(new Case("depthwise 5x5 s2 SAME, C=40, even 12x10 (pad 1/2)", 2, 12, 10, 40, 40, 5, 5, 2,
        true, 0, 40, true));
    c.add(new Case("depthwise 5x5 s1 SAME, C=13, batch 1, 7x9", 1, 7, 9, 13, 13, 5, 5, 1, true, 0,
        13, false));
    // wide rows: the CPU backend's register-blocked 8- and 4-pixel strips (5x5), channel tails
    c.add(new Case("depthwise 5x5 s1 SAME, C=19, wide 5x29, bias", 2, 5, 29, 19, 19, 5, 5, 1, true,
        0, 19, true));
    c.add(new Case("depthwise 5x5 s2 SAME, C=24, wide 9x37", 1, 9, 37, 24, 24, 5, 5, 2, true, 0, 24,
        false));
    // 3x3 stride 1 over <= 32 channels: the 3x3 strips (forward, and dx as the forward on dy
    // with the kernel flipped), the 16-wide channel block, channel tails
    c.add(new Case("depthwise 3x3 s1 SAME, C=20, wide 6x27, bias", 2, 6, 27, 20, 20, 3, 3, 1, true,
        0, 20, true));
    c.add(new Case("depthwise 3x3 s1 pad 1, C=32, wide 5x21", 1, 5, 21, 32, 32, 3, 3, 1, false, 1,
        32, false));
    c.add(new Case("depthwise 5x5 s1 SAME, C=48, wide 7x19 (16-wide block)", 1, 7, 19, 48, 48, 5, 5,
        1, true, 0, 48, true));
    // rows of at most 16 pixels: strips of 4 to 8 pixels over the whole row, its ends included
    // (7 = 7, 14 = 7 + 7, 11 = 6 + 5, 9 = 5 + 4, 16 = 8 + 8), forward and the stride-1 dx
    c.add(new Case("depthwise 5x5 s1 SAME, C=48, 7x7 (one strip of 7), bias", 2, 7, 7, 48, 48, 5,
        5, 1, true, 0, 48, true));
    c.add(new Case("depthwise 5x5 s1 SAME, C=37, 6x14 (strips of 7, channel tail)", 2, 6, 14, 37,
        37, 5, 5, 1, true, 0, 37, false));
    c.add(new Case("depthwise 3x3 s1 SAME, C=24, 5x11 (3x3 strips of 6 and 5), bias", 2, 5, 11,
        24, 24, 3, 3, 1, true, 0, 24, true));
    c.add(new Case("depthwise 5x5 s1 SAME, C=16, 4x9 (strips of 5 and 4)", 1, 4, 9, 16, 16, 5, 5,
        1, true, 0, 16, false));
    c.add(new Case("depthwise 3x3 s1 SAME, C=48, 6x13 (16-float strips at the row ends), bias", 2,
        6, 13, 48, 48, 3, 3, 1, true, 0, 48, true));
    c.add(new Case("depthwise 3x3 s1 SAME, C=41, 5x30 (8-float strips and a channel per pixel)", 1,
        5, 30, 41, 41, 3, 3, 1, true, 0, 41, false));
    c.add(new Case("depthwise 3x3 s1 SAME, C=16, 3x16 (strips of 8), bias", 2, 3, 16, 16, 16, 3, 3,
        1, true, 0, 16, true));
    // 3x3 stride 1 over 16 and 32 channels: with AVX-512 a row's inner pixels in one loop
    c.add(new Case("depthwise 3x3 s1 SAME, C=32, 9x12, bias", 2, 9, 12, 32, 32, 3, 3, 1, true, 0,
        32, true));
    c.add(new Case("depthwise 3x3 s1 SAME, C=16, 4x5, bias", 1, 4, 5, 16, 16, 3, 3, 1, true, 0, 16,
        true));
    // 16-channel strips (avx512, whole multiples of 16 channels from 32 up), stride 2, bias
    c.add(new Case("depthwise 5x5 s2 SAME, C=32, wide 9x41 (16-channel strips), bias", 2, 9, 41, 32,
        32, 5, 5, 2, true, 0, 32, true));
    // padding wider than the map (EfficientNet's 1x1 stride-32 maps at inputs <= 32x32)
    c.add(new Case("depthwise 5x5 s1 SAME on 1x1, C=16, bias", 2, 1, 1, 16, 16, 5, 5, 1, true, 0,
        16, true));
    c.add(new Case("depthwise 5x5 s1 SAME on 2x3, C=40", 1, 2, 3, 40, 40, 5, 5, 1, true, 0, 40,
        false));
    c.add(new Case("depthwise 5x5 s2 SAME on 1x2, C=9, bias", 2, 1, 2, 9, 9, 5, 5, 2, true, 0, 9,
        true));
    c.add(new Case("depthwise 3x3 s1 on 1x2 (kernel wider than input)", 1, 1, 2, 3, 3, 3, 3, 1,
        true, 0, 3, true));
    return c;
  }

  /**
   * The CPU backend runs an op on one thread unless it has ~4M multiply-adds per thread (a
   * parallel region costs more than it saves below that), so these cases are large enough to
   * exercise its multi-threaded paths: dynamic parts, per-part partial sums, col2im rounds.
   */
  static List<Case> threadedCases() {
    List<Case> c = new ArrayList<>();
    c.add(new Case("threaded depthwise 5x5 s1, 46x46x80, bias", 2, 46, 46, 80, 80, 5, 5, 1, true,
        0, 80, true));
    c.add(new Case("threaded depthwise 3x3 s2, 112x112x48", 8, 112, 112, 48, 48, 3, 3, 2, true, 0,
        48, true));
    c.add(new Case("threaded depthwise 3x3 s1, 96x96x16 (3x3 strips)", 4, 96, 96, 16, 16, 3, 3, 1,
        true, 0, 16, false));
    // dw per block of channels (>= 128 channels, several threads): on 2 threads with AVX-512
    // 64-channel blocks and an 8-channel tail (264 = 4 * 64 + 8), 64-channel blocks and a tail of
    // 16 + 16 + 8 (552 = 8 * 64 + 40), 32-channel blocks and a 16-channel tail (144 = 4 * 32 +
    // 16), elsewhere 16 or 8 channels; 5x5 stride 1 with bias, 3x3 stride 1 and 2
    c.add(new Case("threaded depthwise 5x5 s1, 14x13x264 (dw by channel blocks), bias", 8, 14, 13,
        264, 264, 5, 5, 1, true, 0, 264, true));
    c.add(new Case("threaded depthwise 3x3 s1, 14x14x552 (dw by channel blocks)", 8, 14, 14, 552,
        552, 3, 3, 1, true, 0, 552, false));
    c.add(new Case("threaded depthwise 3x3 s2, 65x70x144 (dw by channel blocks)", 8, 65, 70, 144,
        144, 3, 3, 2, true, 0, 144, false));
    c.add(new Case("threaded dense 3x3 s1, 32x32x32->32", 2, 32, 32, 32, 32, 3, 3, 1, true, 0, 1,
        true));
    c.add(new Case("threaded winograd 3x3 s1, 56x56x24->32, bias", 2, 56, 56, 24, 32, 3, 3, 1, true,
        0, 1, true));
    c.add(new Case("threaded dense 3x3 s2, 64x64x16->32", 2, 64, 64, 16, 32, 3, 3, 2, true, 0, 1,
        false));
    c.add(new Case("threaded stem 3x3 s2, 128x128x3->32 (direct, K=27), bias", 4, 128, 128, 3, 32,
        3, 3, 2, true, 0, 1, true));
    c.add(new Case("threaded pointwise 64x64x64->64", 2, 64, 64, 64, 64, 1, 1, 1, true, 0, 1, true));
    c.add(new Case("threaded pointwise 64x64x32->16", 2, 64, 64, 32, 16, 1, 1, 1, true, 0, 1, false));
    c.add(new Case("threaded pointwise 32x32x160->128 (sgemm backward)", 2, 32, 32, 160, 128, 1, 1, 1,
        true, 0, 1, true));
    // sgemm backward without bias (also the batch-norm and two-block variants): on a small map
    // dx by rows and dw by columns, each piece of rows crossing an image; dy over 8 MiB, in
    // chunks of rows with a partial dw per part
    c.add(new Case("threaded pointwise 3x14x14 112->672 (sgemm, dw by columns)", 3, 14, 14, 112,
        672, 1, 1, 1, true, 0, 1, false));
    c.add(new Case("threaded pointwise 4x48x48 80->240 (sgemm in row chunks)", 4, 48, 48, 80, 240,
        1, 1, 1, true, 0, 1, false));
    c.add(new Case("threaded grouped 3x3 groups=2", 2, 32, 32, 32, 32, 3, 3, 1, true, 0, 2, true));
    return c;
  }

  static Stream<Arguments> backendsAndCases() {
    return Backends.all().flatMap(b -> cases().stream().map(c -> Arguments.of(b, c)));
  }

  static Stream<Case> allCases() {
    return Stream.concat(cases().stream(), threadedCases().stream());
  }

  static Stream<Arguments> backendsAndAllCases() {
    return Backends.all()
        .flatMap(
            b -> Stream.concat(cases().stream(), threadedCases().stream())
                .map(c -> Arguments.of(b, c)));
  }

  /** Random inputs of one case, and the native results. */
  private static final class Run {
    final Case c;
    final float[] x;
    final float[] w;
    final float[] b;
    final float[] dy;
    float[] y;
    float[] dx;
    float[] dw;
    float[] db;

    Run(Case c, long seed) {
      this.c = c;
      Rand rand = new Rand(seed);
      x = rand.uniform(Rand.size(c.xShape()), -1, 1);
      w = rand.uniform(Rand.size(c.wShape()), -1, 1);
      b = c.bias ? rand.uniform(c.cout, -1, 1) : null;
      dy = rand.uniform(Rand.size(c.yShape()), -1, 1);
    }

    /** Forward, then backward with all three gradients; outputs are pre-filled with garbage
     *  to prove that backward overwrites rather than accumulates. */
    Run execute(Context ctx) {
      try (Tensor tx = ctx.tensor(x, c.xShape());
          Tensor tw = ctx.tensor(w, c.wShape());
          Tensor tb = b == null ? null : ctx.tensor(b, c.cout);
          Tensor ty = ctx.tensor(c.yShape());
          Tensor tdy = ctx.tensor(dy, c.yShape());
          Tensor tdx = ctx.tensor(c.xShape());
          Tensor tdw = ctx.tensor(c.wShape());
          Tensor tdb = ctx.tensor(c.cout)) {
        ty.fill(Float.NaN);
        tdx.fill(Float.NaN);
        tdw.fill(Float.NaN);
        tdb.fill(Float.NaN);
        Ops.conv2dForward(ctx, tx, tw, tb, ty, c.spec());
        Ops.conv2dBackward(ctx, tx, tw, tdy, tdx, tdw, c.bias ? tdb : null, c.spec());
        y = ty.read();
        dx = tdx.read();
        dw = tdw.read();
        if (c.bias) {
          db = tdb.read();
        }
      }
      return this;
    }
  }

  // ---- (a) naive double-precision reference ---------------------------------------------

  @ParameterizedTest(name = "{0}: {1}")
  @MethodSource("backendsAndAllCases")
  void forwardAndBackwardMatchDoubleReference(Backend backend, Case c) {
    try (Context ctx = Backends.open(backend)) {
      Run r = new Run(c, 11).execute(ctx);
      Reference ref = Reference.of(c, r.x, r.w, r.b, r.dy);
      Tolerance.assertClose(c + " y", r.y, ref.y, ABS, REL);
      Tolerance.assertClose(c + " dx", r.dx, ref.dx, ABS, REL);
      Tolerance.assertClose(c + " dw", r.dw, ref.dw, ABS, REL);
      if (c.bias) {
        Tolerance.assertClose(c + " db", r.db, ref.db, ABS, REL);
      }
    }
  }

  /**
   * es_conv2d_forward_fused on every path: {@code y = act(conv + b) * scale + shift + residual}
   * against the double reference's convolution pushed through the same epilogue in double, for
   * each activation with the whole epilogue and for each activation alone (the encoder's use).
   */
  @ParameterizedTest(name = "{0}: {1}")
  @MethodSource("backendsAndAllCases")
  void fusedEpilogueMatchesReference(Backend backend, Case c) {
    try (Context ctx = Backends.open(backend)) {
      Run r = new Run(c, 11);
      Rand rand = new Rand(23);
      float[] scale = rand.uniform(c.cout, 0.5, 1.5);
      float[] shift = rand.uniform(c.cout, -1, 1);
      float[] residual = rand.uniform(Rand.size(c.yShape()), -1, 1);
      double[] conv = Reference.of(c, r.x, r.w, r.b, r.dy).y;
      for (Activation act : Activation.values()) {
        for (boolean whole : new boolean[] {true, false}) {
          try (Tensor tx = ctx.tensor(r.x, c.xShape());
              Tensor tw = ctx.tensor(r.w, c.wShape());
              Tensor tb = r.b == null ? null : ctx.tensor(r.b, c.cout);
              Tensor ts = whole ? ctx.tensor(scale, c.cout) : null;
              Tensor tsh = whole ? ctx.tensor(shift, c.cout) : null;
              Tensor tr = whole ? ctx.tensor(residual, c.yShape()) : null;
              Tensor ty = ctx.tensor(c.yShape())) {
            ty.fill(Float.NaN);
            Ops.conv2dForwardFused(ctx, tx, tw, tb, ty, c.spec(), act, ts, tsh, tr);
            double[] expected = new double[conv.length];
            for (int i = 0; i < conv.length; i++) {
              int co = i % c.cout;
              double v = activation(act, conv[i]);
              expected[i] = whole ? v * scale[co] + shift[co] + residual[i] : v;
            }
            Tolerance.assertClose(c + " " + act + (whole ? " + affine + residual" : ""), ty.read(),
                expected, ABS, REL);
          }
        }
      }
    }
  }

  private static double activation(Activation act, double v) {
    return switch (act) {
      case NONE -> v;
      case RELU -> Math.max(v, 0);
      case SWISH -> v / (1 + Math.exp(-v));
      case SIGMOID -> 1 / (1 + Math.exp(-v));
    };
  }

  /**
   * Finite differences of L = sum(y * r) through the native forward pass. Convolution is
   * linear in x and in w (and in b), so central differences have no truncation error; what
   * remains is float32 rounding of L, about eps32 * sum|y*r| / h ~ 6e-8 * 1e3 / 0.5 ~ 1e-4
   * at these sizes. A large step h = 0.5 keeps that small; abs 1e-3 + rel 1e-3 leaves
   * margin while an indexing error would be off by O(0.1).
   */
  @ParameterizedTest(name = "{0}: {1}")
  @MethodSource("backendsAndCases")
  void gradientsMatchFiniteDifferences(Backend backend, Case c) {
    try (Context ctx = Backends.open(backend);
        Tensor tx = ctx.tensor(c.xShape());
        Tensor tw = ctx.tensor(c.wShape());
        Tensor tb = c.bias ? ctx.tensor(c.cout) : null;
        Tensor ty = ctx.tensor(c.yShape())) {
      Run r = new Run(c, 23).execute(ctx); // dy plays the role of r = dL/dy
      java.util.function.Supplier<Double> loss =
          () -> {
            tx.write(r.x);
            tw.write(r.w);
            if (tb != null) {
              tb.write(r.b);
            }
            Ops.conv2dForward(ctx, tx, tw, tb, ty, c.spec());
            return GradCheck.dot(ty.read(), r.dy);
          };
      GradCheck.check(c + " dx", r.x, r.dx, loss, 0.5, 1e-3, 1e-3, 40, 1);
      GradCheck.check(c + " dw", r.w, r.dw, loss, 0.5, 1e-3, 1e-3, 40, 2);
      if (c.bias) {
        GradCheck.check(c + " db", r.b, r.db, loss, 0.5, 1e-3, 1e-3, 40, 3);
      }
    }
  }

  // ---- (b) PyTorch parity ---------------------------------------------------------------

  /**
   * The same inputs through PyTorch's conv2d (NCHW, OIHW weights). PyTorch pads symmetrically
   * only, so TensorFlow SAME's asymmetric padding is applied to x explicitly (constant_pad_nd,
   * which autograd differentiates) before a padding-0 convolution. Gradients come from
   * autograd of sum(y * dy).
   */
  @ParameterizedTest(name = "{0}: {1}")
  @MethodSource("backendsAndAllCases")
  void forwardAndGradientsMatchPyTorch(Backend backend, Case c) {
    try (Context ctx = Backends.open(backend);
        TorchOracle torch = new TorchOracle()) {
      Run r = new Run(c, 37).execute(ctx);
      ConvSpec s = c.spec();
      NDArray x = torch.fromNhwc(r.x, c.n, c.h, c.w, c.cin);
      NDArray w = torch.weightsFromHwio(r.w, c.kh, c.kw, c.cin / c.groups, c.cout);
      NDArray b = c.bias ? torch.array(r.b, c.cout) : null;
      NDArray dy = torch.fromNhwc(r.dy, c.n, c.oh(), c.ow(), c.cout);
      x.setRequiresGradient(true);
      w.setRequiresGradient(true);
      if (b != null) {
        b.setRequiresGradient(true);
      }
      NDArray y;
      try (GradientCollector gc = TorchOracle.record()) {
        // constant_pad_nd order: last dim first — (left, right, top, bottom)
        NDArray xp =
            x.pad(new Shape(s.padLeft(), s.padRight(), s.padTop(), s.padBottom()), 0);
        y =
            Conv2d.conv2d(
                    xp, w, b, new Shape(s.strideH(), s.strideW()), new Shape(0, 0),
                    new Shape(1, 1), c.groups)
                .singletonOrThrow();
        gc.backward(y.mul(dy).sum());
      }
      // PyTorch sums in float32 too; over the 25088 pixels of a threaded case's dw its own
      // rounding reaches ~1e-4 relative to the sum of |terms|, so the bound includes that.
      Reference ref = Reference.of(c, r.x, r.w, r.b, r.dy);
      assertWithinRounding(c + " y vs torch", r.y, TorchOracle.toNhwc(y), ref.yMag);
      assertWithinRounding(c + " dx vs torch", r.dx, TorchOracle.toNhwc(x.getGradient()),
          ref.dxMag);
      assertWithinRounding(c + " dw vs torch", r.dw, TorchOracle.weightsToHwio(w.getGradient()),
          ref.dwMag);
      if (b != null) {
        assertWithinRounding(c + " db vs torch", r.db, b.getGradient().toFloatArray(), ref.dbMag);
      }
    }
  }

  // ---- optional gradients, threads, tiling ----------------------------------------------

  /** Each of dx, dw, db may be skipped; what is computed is the same as when all are. */
  @ParameterizedTest(name = "{0}: {1}")
  @MethodSource("backendsAndCases")
  void eachGradientCanBeComputedAlone(Backend backend, Case c) {
    try (Context ctx = Backends.open(backend);
        Tensor tdx = ctx.tensor(c.xShape());
        Tensor tdw = ctx.tensor(c.wShape());
        Tensor tdb = ctx.tensor(c.cout)) {
      Run r = new Run(c, 41).execute(ctx);
      try (Tensor tx = ctx.tensor(r.x, c.xShape());
          Tensor tw = ctx.tensor(r.w, c.wShape());
          Tensor tdy = ctx.tensor(r.dy, c.yShape())) {
        Ops.conv2dBackward(ctx, tx, tw, tdy, tdx, null, null, c.spec());
        Ops.conv2dBackward(ctx, tx, tw, tdy, null, tdw, null, c.spec());
        Ops.conv2dBackward(ctx, tx, tw, tdy, null, null, tdb, c.spec());
      }
      Tolerance.assertClose(c + " dx alone", tdx.read(), r.dx, 1e-6, 1e-6);
      Tolerance.assertClose(c + " dw alone", tdw.read(), r.dw, 1e-6, 1e-6);
      Reference ref = Reference.of(c, r.x, r.w, r.b, r.dy);
      Tolerance.assertClose(c + " db alone", tdb.read(), ref.db, ABS, REL);
    }
  }

  /**
   * A stride-1 depthwise convolution that keeps the map's size, on the CPU backend, computes dx
   * and dw in one sweep over the rows when both are asked for: the same bits as each alone
   * (3x3 over 16 and 40 channels, 5x5 over 24, with bias; one to three threads).
   */
  @Test
  void depthwiseDxAndDwTogetherAreEachAlone() {
    Case[] cases = {
      new Case("depthwise 3x3 s1, 30x33x16, bias", 2, 30, 33, 16, 16, 3, 3, 1, true, 0, 16, true),
      new Case("depthwise 3x3 s1, 17x19x40, bias", 3, 17, 19, 40, 40, 3, 3, 1, true, 0, 40, true),
      new Case("depthwise 5x5 s1, 21x22x24, bias", 2, 21, 22, 24, 24, 5, 5, 1, true, 0, 24, true),
    };
    for (Case c : cases) {
      for (int threads = 1; threads <= 3; threads++) {
        try (Context ctx = Context.cpu(threads);
            Tensor tdx = ctx.tensor(c.xShape());
            Tensor tdw = ctx.tensor(c.wShape());
            Tensor tdb = ctx.tensor(c.cout)) {
          Run r = new Run(c, 59).execute(ctx);
          backwardAlone(ctx, c, r, tdx, tdw, tdb);
          String at = c + ", " + threads + " threads";
          assertWithMessage("dx " + at).that(tdx.read()).usingExactEquality()
              .containsExactly(r.dx).inOrder();
          assertWithMessage("dw " + at).that(tdw.read()).usingExactEquality()
              .containsExactly(r.dw).inOrder();
          assertWithMessage("db " + at).that(tdb.read()).usingExactEquality()
              .containsExactly(r.db).inOrder();
        }
      }
    }
  }

  /**
   * The same without a bias, 3x3 over 16 channels: with AVX-512 each row whose kernel rows are
   * inside the map is one pass over its pixels for dx and dw together; maps of 3 and 4 pixels a
   * side have one and two such rows, each with one and two pixels between its two ends.
   */
  @Test
  void depthwiseDxAndDwTogetherAreEachAloneWithoutBias() {
    Case[] cases = {
      new Case("depthwise 3x3 s1, 30x33x16", 2, 30, 33, 16, 16, 3, 3, 1, true, 0, 16, false),
      new Case("depthwise 3x3 s1 pad 1, 3x3x16", 3, 3, 3, 16, 16, 3, 3, 1, false, 1, 16, false),
      new Case("depthwise 3x3 s1 pad 1, 4x4x16", 2, 4, 4, 16, 16, 3, 3, 1, false, 1, 16, false),
    };
    for (Case c : cases) {
      for (int threads = 1; threads <= 3; threads++) {
        try (Context ctx = Context.cpu(threads);
            Tensor tdx = ctx.tensor(c.xShape());
            Tensor tdw = ctx.tensor(c.wShape())) {
          Run r = new Run(c, 61).execute(ctx);
          backwardAlone(ctx, c, r, tdx, tdw, null);
          String at = c + ", " + threads + " threads";
          assertWithMessage("dx " + at).that(tdx.read()).usingExactEquality()
              .containsExactly(r.dx).inOrder();
          assertWithMessage("dw " + at).that(tdw.read()).usingExactEquality()
              .containsExactly(r.dw).inOrder();
        }
      }
    }
  }

  /** Case c's dx alone into tdx, then dw (and db where tdb is given) alone, from r's inputs. */
  private static void backwardAlone(
      Context ctx, Case c, Run r, Tensor tdx, Tensor tdw, Tensor tdb) {
    try (Tensor tx = ctx.tensor(r.x, c.xShape());
        Tensor tw = ctx.tensor(r.w, c.wShape());
        Tensor tdy = ctx.tensor(r.dy, c.yShape())) {
      Ops.conv2dBackward(ctx, tx, tw, tdy, tdx, null, null, c.spec());
      Ops.conv2dBackward(ctx, tx, tw, tdy, null, tdw, tdb, c.spec());
    }
  }

  /**
   * Per-part partial sums and the row/tile partitioning change only the order of float32
   * additions (same tolerance argument as above; dw here sums up to 8192 terms).
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("allCases")
  void threadCountDoesNotChangeResults(Case c) {
    // a CPU notion: the CUDA backend has no thread count
    try (Context one = Context.cpu(1);
        Context three = Context.cpu(3)) {
      Run a = new Run(c, 53).execute(one);
      Run b = new Run(c, 53).execute(three);
      Tolerance.assertClose(c + " y", b.y, a.y, ABS, REL);
      Tolerance.assertClose(c + " dx", b.dx, a.dx, ABS, REL);
      Tolerance.assertClose(c + " dw", b.dw, a.dw, ABS, REL);
      if (c.bias) {
        Tolerance.assertClose(c + " db", b.db, a.db, ABS, REL);
      }
    }
  }

  /**
   * The CPU backend's direct pointwise backward (few weights over many pixels, such as the
   * decoder's full-resolution convolutions) adds dw over fixed blocks of rows in block order and
   * computes each dx element as one dot product: its gradients are bit-identical whatever the
   * thread count (32768 rows, 64 blocks, one thread against three and four; four threads on a
   * machine with fewer cores take over each other's shares of the blocks).
   */
  @Test
  void directPointwiseBackwardDoesNotDependOnThreadCount() {
    Case c = new Case("pointwise 128x128x32->16", 2, 128, 128, 32, 16, 1, 1, 1, true, 0, 1, false);
    try (Context one = Context.cpu(1)) {
      Run a = new Run(c, 59).execute(one);
      for (int threads : new int[] {3, 4}) {
        try (Context more = Context.cpu(threads)) {
          for (int rep = 0; rep < 3; rep++) {
            Run b = new Run(c, 59).execute(more);
            String at = threads + " threads, run " + rep;
            assertWithMessage("y " + at).that(b.y).usingExactEquality()
                .containsExactly(a.y).inOrder();
            assertWithMessage("dw " + at).that(b.dw).usingExactEquality()
                .containsExactly(a.dw).inOrder();
            assertWithMessage("dx " + at).that(b.dx).usingExactEquality()
                .containsExactly(a.dx).inOrder();
          }
        }
      }
    }
  }

  /** Work is shared dynamically, but partial sums are per fixed part: reruns are bit-identical. */
  @ParameterizedTest(name = "{0}: {1}")
  @MethodSource("backendsAndAllCases")
  void repeatedRunsAreBitwiseIdentical(Backend backend, Case c) {
    try (Context ctx = Backends.open(backend)) {
      Run a = new Run(c, 71).execute(ctx);
      Run b = new Run(c, 71).execute(ctx);
      assertThat(b.y).usingExactEquality().containsExactly(a.y).inOrder();
      assertThat(b.dx).usingExactEquality().containsExactly(a.dx).inOrder();
      assertThat(b.dw).usingExactEquality().containsExactly(a.dw).inOrder();
      if (c.bias) {
        assertThat(b.db).usingExactEquality().containsExactly(a.db).inOrder();
      }
    }
  }

  /**
   * Enough input channels that one im2col row of the CPU backend is ~0.8 MB, so its tiles (about
   * 2 MB, stretched towards 256 pixels) hold a few output rows: several tiles, one of which
   * straddles the two images (13 rows each), and both even/odd col2im rounds. Reductions here have 9 * 2000 terms of
   * magnitude <= 1, so the forward tolerance grows accordingly (float32 rounding of such a sum
   * is ~eps32 * sqrt(18000) * |terms| ~ 1e-5, with sums of magnitude ~50).
   */
  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void tiledIm2colMatchesReference(Backend backend) {
    for (Case c :
        List.of(
            new Case("tiled 3x3 s1", 2, 13, 11, 2000, 4, 3, 3, 1, true, 0, 1, true),
            new Case("tiled 3x3 s2 groups 2", 2, 13, 11, 8000, 4, 3, 3, 2, true, 0, 2, false))) {
      try (Context ctx = Backends.open(backend)) {
        Run r = new Run(c, 61).execute(ctx);
        Reference ref = Reference.of(c, r.x, r.w, r.b, r.dy);
        Tolerance.assertClose(c + " y", r.y, ref.y, 2e-3, 1e-4);
        Tolerance.assertClose(c + " dx", r.dx, ref.dx, 1e-4, 1e-4);
        Tolerance.assertClose(c + " dw", r.dw, ref.dw, 1e-4, 1e-4);
      }
    }
  }

  // ---- gated pointwise convolutions (es_conv2d_forward_gated / es_conv2d_backward_gated) ----

  /** The pointwise cases without groups, and a few more for the gate's images: blocks and
   *  chunks of rows that start inside an image, on the direct and the sgemm paths. */
  static Stream<Arguments> backendsAndGatedCases() {
    List<Case> gated = new ArrayList<>();
    for (Case c : Stream.concat(cases().stream(), threadedCases().stream()).toList()) {
      if (c.kh == 1 && c.kw == 1 && c.stride == 1 && c.groups == 1) {
        gated.add(c);
      }
    }
    gated.add(new Case("gated pointwise 40->16, 3 images of 5x7", 3, 5, 7, 40, 16, 1, 1, 1, true, 0,
        1, true));
    gated.add(new Case("gated pointwise 96->24, 3 images of 23x29 (direct blocks across images)", 3,
        23, 29, 96, 24, 1, 1, 1, true, 0, 1, false));
    gated.add(new Case("gated pointwise 240->80, 5 images of 14x14 (sgemm chunks across images)",
        5, 14, 14, 240, 80, 1, 1, 1, true, 0, 1, true));
    return Backends.all().flatMap(b -> gated.stream().map(c -> Arguments.of(b, c)));
  }

  /**
   * The gated convolution is the convolution of es_channel_scale_forward's product, bit for bit:
   * forward with and without the whole epilogue, and backward with every gradient, with dx or
   * dw alone (the product is made for dw only), against the product written out and the plain
   * ops. The gate takes a different value per image and channel, so a row given another image's
   * gate, or a block's rows offset, changes the result. ds, the gate's gradient gathered as dx
   * is written, is the sum over each image's pixels of dx * x, within rounding of that sum in
   * double (a row counted in another image, or twice, is off by whole terms).
   */
  @ParameterizedTest(name = "{0}: {1}")
  @MethodSource("backendsAndGatedCases")
  void gatedIsTheConvolutionOfTheProduct(Backend backend, Case c) {
    try (Context ctx = Backends.open(backend)) {
      Run r = new Run(c, 17);
      Rand rand = new Rand(29);
      float[] gate = rand.uniform(c.n * c.cin, 0.1, 1.9);
      float[] scale = rand.uniform(c.cout, 0.5, 1.5);
      float[] shift = rand.uniform(c.cout, -1, 1);
      float[] residual = rand.uniform(Rand.size(c.yShape()), -1, 1);
      long[] sShape = {c.n, 1, 1, c.cin};
      try (Tensor tx = ctx.tensor(r.x, c.xShape());
          Tensor ts = ctx.tensor(gate, sShape);
          Tensor tw = ctx.tensor(r.w, c.wShape());
          Tensor tb = r.b == null ? null : ctx.tensor(r.b, c.cout);
          Tensor tdy = ctx.tensor(r.dy, c.yShape());
          Tensor product = ctx.tensor(c.xShape());
          Tensor tscale = ctx.tensor(scale, c.cout);
          Tensor tshift = ctx.tensor(shift, c.cout);
          Tensor tres = ctx.tensor(residual, c.yShape());
          Tensor expected = ctx.tensor(c.yShape());
          Tensor actual = ctx.tensor(c.yShape())) {
        Ops.channelScaleForward(ctx, tx, ts, product);
        for (boolean whole : new boolean[] {false, true}) {
          Activation act = whole ? Activation.SWISH : Activation.NONE;
          Tensor sc = whole ? tscale : null, sh = whole ? tshift : null, res = whole ? tres : null;
          Ops.conv2dForwardFused(ctx, product, tw, tb, expected, c.spec(), act, sc, sh, res);
          actual.fill(Float.NaN);
          Ops.conv2dForwardGated(ctx, tx, ts, tw, tb, actual, act, sc, sh, res);
          assertWithMessage("%s y%s", c, whole ? " (swish + affine + residual)" : "")
              .that(actual.read()).isEqualTo(expected.read());
        }
        float[][] want = gradients(ctx, c, product, null, tw, tdy, true, true);
        float[][] all = gradients(ctx, c, tx, ts, tw, tdy, true, true);
        float[][] dxOnly = gradients(ctx, c, tx, ts, tw, tdy, true, false);
        float[][] dwOnly = gradients(ctx, c, tx, ts, tw, tdy, false, true);
        double[] dsRef = new double[c.n * c.cin];
        int hw = c.h * c.w;
        for (int i = 0; i < r.x.length; i++) {
          dsRef[i / (hw * c.cin) * c.cin + i % c.cin] += (double) want[0][i] * r.x[i];
        }
        Tolerance.assertClose(c + " ds", all[3], dsRef, 1e-5, 1e-5);
        assertWithMessage("%s ds with dx alone", c).that(dxOnly[3]).isEqualTo(all[3]);
        String[] names = {"dx (of the product)", "dw", "db"};
        for (int i = 0; i < 3; i++) {
          if (want[i] == null) {
            continue; // no bias
          }
          assertWithMessage("%s %s", c, names[i]).that(all[i]).isEqualTo(want[i]);
        }
        assertWithMessage("%s dx alone", c).that(dxOnly[0]).isEqualTo(want[0]);
        assertWithMessage("%s dw alone", c).that(dwOnly[1]).isEqualTo(want[1]);
      }
    }
  }

  /** {dx, dw, db, ds} of the plain (s null) or gated backward; outputs not asked for stay null,
   *  db is asked for with dw when the case has a bias, ds (gated) with dx. */
  private static float[][] gradients(Context ctx, Case c, Tensor x, Tensor s, Tensor w, Tensor dy,
      boolean wantDx, boolean wantDw) {
    try (Tensor dx = ctx.tensor(c.xShape());
        Tensor dw = ctx.tensor(c.wShape());
        Tensor db = ctx.tensor(c.cout);
        Tensor ds = ctx.tensor(c.n, 1, 1, c.cin)) {
      dx.fill(Float.NaN);
      dw.fill(Float.NaN);
      db.fill(Float.NaN);
      ds.fill(Float.NaN);
      Tensor gx = wantDx ? dx : null, gw = wantDw ? dw : null, gb = wantDw && c.bias ? db : null;
      Tensor gs = s != null && wantDx ? ds : null;
      if (s == null) {
        Ops.conv2dBackward(ctx, x, w, dy, gx, gw, gb, c.spec());
      } else {
        Ops.conv2dBackwardGated(ctx, x, s, w, dy, gx, gw, gb, gs);
      }
      return new float[][] {
        wantDx ? dx.read() : null, wantDw ? dw.read() : null, gb != null ? db.read() : null,
        gs != null ? ds.read() : null
      };
    }
  }

  // ---- a pointwise convolution of two channel blocks (es_conv2d_forward_blocks) ---------------

  /**
   * es_conv2d_forward_blocks of x split into two channel blocks is es_conv2d_forward_fused of x,
   * to float rounding (the second block continues each sum where the first left it; the sgemm
   * path adds a second product), for each activation with and without the rest of the epilogue
   * and the bias. The blocks split x's channels at a multiple of 8 where there are 16 or more
   * (the decoder's halves), elsewhere in the middle.
   */
  @ParameterizedTest(name = "{0}: {1}")
  @MethodSource("backendsAndGatedCases")
  void blocksAreTheConvolutionOfTheirConcatenation(Backend backend, Case c) {
    int c1 = c.cin >= 16 ? c.cin / 16 * 8 : c.cin / 2;
    int c2 = c.cin - c1;
    try (Context ctx = Backends.open(backend)) {
      Run r = new Run(c, 53);
      Rand rand = new Rand(59);
      float[] scale = rand.uniform(c.cout, 0.5, 1.5);
      float[] shift = rand.uniform(c.cout, -1, 1);
      float[] residual = rand.uniform(Rand.size(c.yShape()), -1, 1);
      try (Tensor tx = ctx.tensor(r.x, c.xShape());
          Tensor x1 = ctx.tensor(c.n, c.h, c.w, c1);
          Tensor x2 = ctx.tensor(c.n, c.h, c.w, c2);
          Tensor tw = ctx.tensor(r.w, c.wShape());
          Tensor tb = r.b == null ? null : ctx.tensor(r.b, c.cout);
          Tensor tscale = ctx.tensor(scale, c.cout);
          Tensor tshift = ctx.tensor(shift, c.cout);
          Tensor tres = ctx.tensor(residual, c.yShape());
          Tensor expected = ctx.tensor(c.yShape());
          Tensor actual = ctx.tensor(c.yShape())) {
        Ops.channelCopy(ctx, tx, 0, x1, 0, c1, false);
        Ops.channelCopy(ctx, tx, c1, x2, 0, c2, false);
        for (Activation act : Activation.values()) {
          for (boolean whole : new boolean[] {false, true}) {
            Tensor sc = whole ? tscale : null, sh = whole ? tshift : null, res = whole ? tres : null;
            Ops.conv2dForwardFused(ctx, tx, tw, tb, expected, c.spec(), act, sc, sh, res);
            actual.fill(Float.NaN);
            Ops.conv2dForwardBlocks(ctx, x1, x2, tw, tb, actual, act, sc, sh, res);
            Tolerance.assertClose(c + " " + c1 + " + " + c2 + " channels, " + act + (whole ? " + affine + residual" : ""),
                actual.read(), expected.read(), 1e-5, 1e-5);
          }
        }
      }
    }
  }

  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void blocksRejectMismatchedShapes(Backend backend) {
    try (Context ctx = Backends.open(backend);
        Tensor x1 = ctx.tensor(2, 5, 5, 8);
        Tensor x2 = ctx.tensor(2, 5, 5, 8);
        Tensor x2Other = ctx.tensor(2, 5, 4, 8);
        Tensor w = ctx.tensor(1, 1, 16, 16);
        Tensor w24 = ctx.tensor(1, 1, 24, 16);
        Tensor y = ctx.tensor(2, 5, 5, 16)) {
      EffisegException e = assertThrows(EffisegException.class,
          () -> Ops.conv2dForwardBlocks(ctx, x1, x2Other, w, null, y, Activation.NONE, null, null, null));
      assertThat(e).hasMessageThat().contains("es_conv2d_forward_blocks");
      assertThat(e).hasMessageThat().contains("[2,5,4,8]");
      e = assertThrows(EffisegException.class,
          () -> Ops.conv2dForwardBlocks(ctx, x1, x2, w24, null, y, Activation.NONE, null, null, null));
      assertThat(e).hasMessageThat().contains("[1,1,24,16]");
      e = assertThrows(EffisegException.class,
          () -> Ops.conv2dForwardBlocks(ctx, x1, x2, w, null, x1, Activation.NONE, null, null, null));
      assertThat(e.status()).isEqualTo(EffisegException.Status.SHAPE);
    }
  }

  // ---- a batch norm's backward finished by the pointwise convolution before it --------------

  static Stream<Arguments> backendsAndBnCases() {
    List<Case> bn = new ArrayList<>();
    for (Case c : backendsAndGatedCases().map(a -> (Case) a.get()[1]).distinct().toList()) {
      if (!c.bias) { // a convolution before a batch norm has no bias
        bn.add(c);
      }
    }
    return Backends.all().flatMap(b -> bn.stream().map(c -> Arguments.of(b, c)));
  }

  /**
   * es_batchnorm_backward_deferred then es_conv2d_backward_bn is es_batchnorm_backward (or
   * _after_relu) then the convolution's backward on its dx: dgamma and dbeta of the batch norm bit
   * for bit (the same pass), dx, dw (and ds, gated) of the convolution to float rounding (the
   * batch norm's dx is the same expression, ka * gr + kb * (x - mean) + kc, but the compiler may
   * contract its multiply-adds differently in the two loops: 1 ulp seen), for each activation
   * after the batch norm, plain and gated, with the batch norm's input a ReLU's output or not,
   * with gr written into dy's storage or a tensor of its own. A channel's coefficient, the mean
   * or the ReLU mask applied to the wrong element is off by far more.
   */
  @ParameterizedTest(name = "{0}: {1}")
  @MethodSource("backendsAndBnCases")
  void batchNormBackwardFinishedByTheConvolutionIsTheTwoBackwards(Backend backend, Case c) {
    try (Context ctx = Backends.open(backend)) {
      Run r = new Run(c, 31);
      Rand rand = new Rand(37);
      float[] gate = rand.uniform(c.n * c.cin, 0.1, 1.9);
      float[] gamma = rand.uniform(c.cout, 0.5, 1.5);
      float[] beta = rand.uniform(c.cout, -0.5, 0.5);
      long[] sShape = {c.n, 1, 1, c.cin};
      for (Activation act : Activation.values()) {
        for (boolean relu : new boolean[] {false, true}) {
          for (boolean gated : new boolean[] {false, true}) {
            for (boolean inPlace : new boolean[] {false, true}) {
              String what = c + " " + act + (relu ? " after relu" : "") + (gated ? " gated" : "")
                  + (inPlace ? " in place" : "");
              try (Tensor ts = gated ? ctx.tensor(gate, sShape) : null;
                  BnAfterConv b = new BnAfterConv(ctx, c, r, gamma, beta, ts, relu, act);
                  Tensor dBn = ctx.tensor(c.yShape());
                  Tensor gr = inPlace ? null : ctx.tensor(c.yShape());
                  Grads wantGrads = new Grads(ctx, c, gated);
                  Grads gotGrads = new Grads(ctx, c, gated)) {
                Tensor[] want = wantGrads.t;
                Tensor[] got = gotGrads.t;
                Tensor tx = b.x, tw = b.w, y = b.y, g = b.gamma, bt = b.beta, sm = b.mean, si = b.invstd;
                Tensor dOut = b.dOut, coef = b.coef;
                // the two backwards: [dx, dw, dgamma, dbeta, ds]
                if (relu) {
                  Ops.batchnormBackwardAfterRelu(ctx, y, g, bt, dOut, sm, si, dBn, want[2], want[3], true, act);
                } else {
                  Ops.batchnormBackward(ctx, y, g, bt, dOut, sm, si, dBn, want[2], want[3], true, act);
                }
                if (gated) {
                  Ops.conv2dBackwardGated(ctx, tx, ts, tw, dBn, want[0], want[1], null, want[4]);
                } else {
                  Ops.conv2dBackward(ctx, tx, tw, dBn, want[0], want[1], null, c.spec());
                }
                // deferred, then finished by the convolution
                Tensor grOut = inPlace ? dOut : gr;
                Ops.batchnormBackwardDeferred(ctx, y, g, bt, dOut, sm, si, grOut, coef, got[2], got[3], act);
                Ops.conv2dBackwardBn(ctx, tx, ts, tw, grOut, y, sm, coef, relu, got[0], got[1],
                    gated ? got[4] : null);
                assertWithMessage("%s dgamma", what).that(got[2].read()).isEqualTo(want[2].read());
                assertWithMessage("%s dbeta", what).that(got[3].read()).isEqualTo(want[3].read());
                String[] names = {"dx", "dw", null, null, "ds"};
                for (int i : new int[] {0, 1, 4}) {
                  if (want[i] != null) {
                    Tolerance.assertClose(what + " " + names[i], got[i].read(), want[i].read(), 1e-6, 1e-5);
                  }
                }
              }
            }
          }
        }
      }
    }
  }

  /**
   * es_conv2d_backward_bn_blocks of x split into two channel blocks is es_conv2d_backward_bn of x:
   * dx in the two blocks' parts and dw, to float rounding (ABS, REL: the direct path gives each
   * element the same sum, the sgemm path's dw sums its rows in another order), for the batch
   * norm's input a ReLU's output or not, with dx and dw together and dw alone. The blocks split
   * x's channels as in blocksAreTheConvolutionOfTheirConcatenation (at a multiple of 8 from 16
   * channels up, the decoder's halves: the direct path where the weights are few), and after 5
   * channels (sgemm).
   */
  @ParameterizedTest(name = "{0}: {1}")
  @MethodSource("backendsAndBnCases")
  void batchNormBackwardFinishedForTwoBlocksIsTheConcatenations(Backend backend, Case c) {
    // the decoder's split (the direct path where the weights are few), then 5 channels first
    // (not a multiple of 8: the sgemm path)
    for (int c1 : new int[] {c.cin >= 16 ? c.cin / 16 * 8 : c.cin / 2, 5}) {
      batchNormBackwardForTwoBlocks(backend, c, c1, c.cin - c1);
    }
  }

  private static void batchNormBackwardForTwoBlocks(Backend backend, Case c, int c1, int c2) {
    try (Context ctx = Backends.open(backend)) {
      Run r = new Run(c, 61);
      Rand rand = new Rand(67);
      float[] gamma = rand.uniform(c.cout, 0.5, 1.5);
      float[] beta = rand.uniform(c.cout, -0.5, 0.5);
      for (boolean relu : new boolean[] {false, true}) {
        String what = c + " " + c1 + " + " + c2 + " channels" + (relu ? " after relu" : "");
        try (BnAfterConv b = new BnAfterConv(ctx, c, r, gamma, beta, null, relu, Activation.RELU);
            Tensor x1 = ctx.tensor(c.n, c.h, c.w, c1);
            Tensor x2 = ctx.tensor(c.n, c.h, c.w, c2);
            Tensor gr = ctx.tensor(c.yShape());
            Tensor dx = ctx.tensor(c.xShape());
            Tensor dw = ctx.tensor(c.wShape());
            Tensor dx1 = ctx.tensor(c.n, c.h, c.w, c1);
            Tensor dx2 = ctx.tensor(c.n, c.h, c.w, c2);
            Tensor dwBlocks = ctx.tensor(c.wShape());
            Tensor wantDx1 = ctx.tensor(c.n, c.h, c.w, c1);
            Tensor wantDx2 = ctx.tensor(c.n, c.h, c.w, c2)) {
          Tensor tx = b.x, tw = b.w, y = b.y, sm = b.mean, coef = b.coef;
          Ops.channelCopy(ctx, tx, 0, x1, 0, c1, false);
          Ops.channelCopy(ctx, tx, c1, x2, 0, c2, false);
          Ops.batchnormBackwardDeferred(ctx, y, b.gamma, b.beta, b.dOut, sm, b.invstd, gr, coef, null, null,
              Activation.RELU);
          Ops.conv2dBackwardBn(ctx, tx, null, tw, gr, y, sm, coef, relu, dx, dw, null);
          Ops.channelCopy(ctx, dx, 0, wantDx1, 0, c1, false);
          Ops.channelCopy(ctx, dx, c1, wantDx2, 0, c2, false);
          dx1.fill(Float.NaN);
          dx2.fill(Float.NaN);
          dwBlocks.fill(Float.NaN);
          Ops.conv2dBackwardBnBlocks(ctx, x1, x2, tw, gr, y, sm, coef, relu, dx1, dx2, dwBlocks);
          Tolerance.assertClose(what + " dx of the first block", dx1.read(), wantDx1.read(), ABS, REL);
          Tolerance.assertClose(what + " dx of the second block", dx2.read(), wantDx2.read(), ABS, REL);
          Tolerance.assertClose(what + " dw", dwBlocks.read(), dw.read(), ABS, REL);
          dwBlocks.fill(Float.NaN);
          Ops.conv2dBackwardBnBlocks(ctx, x1, x2, tw, gr, y, sm, coef, relu, null, null, dwBlocks);
          Tolerance.assertClose(what + " dw alone", dwBlocks.read(), dw.read(), ABS, REL);
        }
      }
    }
  }

  /**
   * A case's convolution (gated by s when it is non-null; then its ReLU when relu) and a
   * training-mode batch norm with activation act after it, run forward: x, w, the conv's output y
   * (the batch norm's input), gamma, beta, the saved mean and invstd, an incoming gradient dOut
   * of the batch norm's output, and coef [3, Cout] for a deferred backward.
   */
  private static final class BnAfterConv implements AutoCloseable {
    final Tensor x, w, y, gamma, beta, runMean, runVar, out, mean, invstd, dOut, coef;

    BnAfterConv(Context ctx, Case c, Run r, float[] g, float[] b, Tensor s, boolean relu, Activation act) {
      x = ctx.tensor(r.x, c.xShape());
      w = ctx.tensor(r.w, c.wShape());
      y = ctx.tensor(c.yShape());
      gamma = ctx.tensor(g, c.cout);
      beta = ctx.tensor(b, c.cout);
      runMean = ctx.tensor(c.cout);
      runVar = ctx.tensor(c.cout);
      out = ctx.tensor(c.yShape());
      mean = ctx.tensor(c.cout);
      invstd = ctx.tensor(c.cout);
      dOut = ctx.tensor(r.dy, c.yShape());
      coef = ctx.tensor(3, c.cout);
      Activation convAct = relu ? Activation.RELU : Activation.NONE;
      if (s != null) {
        Ops.conv2dForwardGated(ctx, x, s, w, null, y, convAct, null, null, null);
      } else {
        Ops.conv2dForwardFused(ctx, x, w, null, y, c.spec(), convAct, null, null, null);
      }
      Ops.batchnormForward(ctx, y, gamma, beta, runMean, runVar, out, mean, invstd, true, 0.1f, 1e-3f, act);
    }

    @Override
    public void close() {
      for (Tensor t : new Tensor[] {x, w, y, gamma, beta, runMean, runVar, out, mean, invstd, dOut, coef}) {
        t.close();
      }
    }
  }

  /** dx, dw, dgamma, dbeta and (gated) ds of one case, NaN-filled. */
  private static final class Grads implements AutoCloseable {
    final Tensor[] t;

    Grads(Context ctx, Case c, boolean gated) {
      t = new Tensor[] {
        ctx.tensor(c.xShape()), ctx.tensor(c.wShape()), ctx.tensor(c.cout), ctx.tensor(c.cout),
        gated ? ctx.tensor(c.n, 1, 1, c.cin) : null
      };
      for (Tensor x : t) {
        if (x != null) {
          x.fill(Float.NaN);
        }
      }
    }

    @Override
    public void close() {
      for (Tensor x : t) {
        if (x != null) {
          x.close();
        }
      }
    }
  }

  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void deferredBatchNormAndItsConvolutionRejectBadInput(Backend backend) {
    try (Context ctx = Backends.open(backend);
        Tensor x = ctx.tensor(2, 5, 5, 8);
        Tensor s = ctx.tensor(2, 1, 1, 8);
        Tensor w = ctx.tensor(1, 1, 8, 16);
        Tensor w3 = ctx.tensor(3, 3, 8, 16);
        Tensor y = ctx.tensor(2, 5, 5, 16);
        Tensor c16 = ctx.tensor(16);
        Tensor coef = ctx.tensor(3, 16);
        Tensor coefWrong = ctx.tensor(2, 16);
        Tensor gr = ctx.tensor(2, 5, 5, 16);
        Tensor dx = ctx.tensor(2, 5, 5, 8);
        Tensor x2 = ctx.tensor(2, 5, 5, 8); // a second block of x's size, for _blocks
        Tensor x2Other = ctx.tensor(2, 5, 4, 8);
        Tensor w16 = ctx.tensor(1, 1, 16, 16);
        Tensor w24 = ctx.tensor(1, 1, 24, 16);
        Tensor dx2 = ctx.tensor(2, 5, 5, 8)) {
      EffisegException e = assertThrows(EffisegException.class,
          () -> Ops.batchnormBackwardDeferred(ctx, y, c16, c16, y, c16, c16, gr, coefWrong, null, null,
              Activation.NONE));
      assertThat(e).hasMessageThat().contains("es_batchnorm_backward_deferred");
      assertThat(e).hasMessageThat().contains("coef");

      e = assertThrows(EffisegException.class, // gr must not overwrite the batch norm's input
          () -> Ops.batchnormBackwardDeferred(ctx, y, c16, c16, gr, c16, c16, y, coef, null, null,
              Activation.SWISH));
      assertThat(e).hasMessageThat().contains("gr");

      e = assertThrows(EffisegException.class,
          () -> Ops.conv2dBackwardBn(ctx, x, null, w3, gr, y, c16, coef, false, dx, null, null));
      assertThat(e).hasMessageThat().contains("es_conv2d_backward_bn");

      e = assertThrows(EffisegException.class,
          () -> Ops.conv2dBackwardBn(ctx, x, null, w, gr, y, c16, coefWrong, false, dx, null, null));
      assertThat(e).hasMessageThat().contains("coef");

      e = assertThrows(EffisegException.class,
          () -> Ops.conv2dBackwardBn(ctx, x, null, w, gr, y, c16, coef, false, dx, null, s));
      assertThat(e).hasMessageThat().contains("ds needs s");

      e = assertThrows(EffisegException.class,
          () -> Ops.conv2dBackwardBn(ctx, x, s, w, gr, dx, c16, coef, false, dx, null, null));
      assertThat(e).hasMessageThat().contains("bn_x");

      // the same convolution on two channel blocks
      e = assertThrows(EffisegException.class,
          () -> Ops.conv2dBackwardBnBlocks(ctx, x, x2Other, w16, gr, y, c16, coef, false, dx, dx2, null));
      assertThat(e).hasMessageThat().contains("es_conv2d_backward_bn_blocks");
      assertThat(e).hasMessageThat().contains("[2,5,4,8]");
      e = assertThrows(EffisegException.class,
          () -> Ops.conv2dBackwardBnBlocks(ctx, x, x2, w24, gr, y, c16, coef, false, dx, dx2, null));
      assertThat(e).hasMessageThat().contains("[1,1,24,16]");
      e = assertThrows(EffisegException.class,
          () -> Ops.conv2dBackwardBnBlocks(ctx, x, x2, w16, gr, y, c16, coef, false, dx, null, null));
      assertThat(e).hasMessageThat().contains("dx2");
      e = assertThrows(EffisegException.class,
          () -> Ops.conv2dBackwardBnBlocks(ctx, x, x2, w16, gr, y, c16, coef, false, dx, x2Other, null));
      assertThat(e).hasMessageThat().contains("dx2");
      assertThat(e.status()).isEqualTo(EffisegException.Status.SHAPE);
      e = assertThrows(EffisegException.class,
          () -> Ops.conv2dBackwardBnBlocks(ctx, x, x2, w16, gr, dx, c16, coef, false, dx, dx2, null));
      assertThat(e).hasMessageThat().contains("bn_x");
      e = assertThrows(EffisegException.class,
          () -> Ops.conv2dBackwardBnBlocks(ctx, x, x2, w16, gr, y, c16, coefWrong, false, dx, dx2, null));
      assertThat(e).hasMessageThat().contains("coef");
    }
  }

  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void gatedConvolutionRejectsBadShapes(Backend backend) {
    try (Context ctx = Backends.open(backend);
        Tensor x = ctx.tensor(2, 5, 5, 8);
        Tensor s = ctx.tensor(2, 1, 1, 8);
        Tensor w = ctx.tensor(1, 1, 8, 16);
        Tensor y = ctx.tensor(2, 5, 5, 16);
        Tensor sWrongChannels = ctx.tensor(2, 1, 1, 16);
        Tensor sOneImage = ctx.tensor(1, 1, 1, 8);
        Tensor w3x3 = ctx.tensor(3, 3, 8, 16);
        Tensor y3 = ctx.tensor(2, 3, 3, 16)) {
      EffisegException e = assertThrows(EffisegException.class,
          () -> Ops.conv2dForwardGated(ctx, x, sWrongChannels, w, null, y, Activation.NONE, null,
              null, null));
      assertThat(e.status()).isEqualTo(EffisegException.Status.SHAPE);
      assertThat(e).hasMessageThat().contains("es_conv2d_forward_gated");
      assertThat(e).hasMessageThat().contains("[2,1,1,16]");

      e = assertThrows(EffisegException.class,
          () -> Ops.conv2dBackwardGated(ctx, x, sOneImage, w, y, null, null, null, null));
      assertThat(e).hasMessageThat().contains("es_conv2d_backward_gated");
      assertThat(e).hasMessageThat().contains("[1,1,1,8]");

      e = assertThrows(EffisegException.class, // ds is gathered from dx
          () -> Ops.conv2dBackwardGated(ctx, x, s, w, y, null, null, null, s));
      assertThat(e).hasMessageThat().contains("ds needs dx");

      e = assertThrows(EffisegException.class,
          () -> Ops.conv2dBackwardGated(ctx, x, s, w, y, x, null, null, sOneImage));
      assertThat(e).hasMessageThat().contains("ds");

      e = assertThrows(EffisegException.class, // a 3x3 kernel is not pointwise
          () -> Ops.conv2dForwardGated(ctx, x, s, w3x3, null, y3, Activation.NONE, null, null,
              null));
      assertThat(e).hasMessageThat().contains("pointwise");

      e = assertThrows(EffisegException.class,
          () -> Ops.conv2dForwardGated(ctx, x, null, w, null, y, Activation.NONE, null, null, null));
      assertThat(e.status()).isEqualTo(EffisegException.Status.NULL_HANDLE);
    }
  }

  // ---- (d) bad input ----------------------------------------------------------------------

  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void badShapesAreExceptionsNamingOpAndShapes(Backend backend) {
    ConvSpec same3 = ConvSpec.same(8, 8, 3, 3, 1, 1);
    try (Context ctx = Backends.open(backend);
        Tensor x = ctx.tensor(2, 8, 8, 4);
        Tensor w = ctx.tensor(3, 3, 4, 6);
        Tensor y = ctx.tensor(2, 8, 8, 6);
        Tensor wrongW = ctx.tensor(3, 3, 3, 6);
        Tensor wrongY = ctx.tensor(2, 4, 4, 6);
        Tensor wrongB = ctx.tensor(5);
        Tensor x3 = ctx.tensor(8, 8, 4);
        Tensor dx = ctx.tensor(2, 8, 8, 4);
        Tensor wrongDx = ctx.tensor(2, 8, 8, 5)) {
      EffisegException e =
          assertThrows(EffisegException.class,
              () -> Ops.conv2dForward(ctx, x, wrongW, null, y, same3));
      assertThat(e.status()).isEqualTo(EffisegException.Status.SHAPE);
      assertThat(e).hasMessageThat().contains("es_conv2d_forward");
      assertThat(e).hasMessageThat().contains("[3,3,3,6]");
      assertThat(e).hasMessageThat().contains("[2,8,8,4]");

      e = assertThrows(EffisegException.class,
          () -> Ops.conv2dForward(ctx, x, w, null, wrongY, same3));
      assertThat(e.status()).isEqualTo(EffisegException.Status.SHAPE);
      assertThat(e).hasMessageThat().contains("[2,4,4,6]");

      e = assertThrows(EffisegException.class,
          () -> Ops.conv2dForward(ctx, x, w, wrongB, y, same3));
      assertThat(e).hasMessageThat().contains("b");

      e = assertThrows(EffisegException.class,
          () -> Ops.conv2dForward(ctx, x3, w, null, y, same3));
      assertThat(e.status()).isEqualTo(EffisegException.Status.SHAPE);

      e = assertThrows(EffisegException.class, // 4 input channels do not split into 3 groups
          () -> Ops.conv2dForward(ctx, x, w, null, y, ConvSpec.same(8, 8, 3, 3, 1, 3)));
      assertThat(e).hasMessageThat().contains("groups=3");

      e = assertThrows(EffisegException.class,
          () -> Ops.conv2dForward(ctx, x, w, null, y, ConvSpec.symmetric(0, 1, 1)));
      assertThat(e.status()).isEqualTo(EffisegException.Status.SHAPE); // VALID: y is 6x6

      e = assertThrows(EffisegException.class,
          () -> Ops.conv2dForward(ctx, null, w, null, y, same3));
      assertThat(e.status()).isEqualTo(EffisegException.Status.NULL_HANDLE);

      e = assertThrows(EffisegException.class,
          () -> Ops.conv2dForward(ctx, x, w, null, x, same3));
      assertThat(e).hasMessageThat().contains("es_conv2d_forward");

      e = assertThrows(EffisegException.class,
          () -> Ops.conv2dBackward(ctx, x, w, y, wrongDx, null, null, same3));
      assertThat(e).hasMessageThat().contains("es_conv2d_backward");
      assertThat(e).hasMessageThat().contains("[2,8,8,5]");

      e = assertThrows(EffisegException.class,
          () -> Ops.conv2dBackward(ctx, x, w, wrongY, dx, null, null, same3));
      assertThat(e).hasMessageThat().contains("dy");

      Tensor closed = ctx.tensor(3, 3, 4, 6);
      closed.close();
      e = assertThrows(EffisegException.class,
          () -> Ops.conv2dForward(ctx, x, closed, null, y, same3));
      assertThat(e.status()).isEqualTo(EffisegException.Status.USE_AFTER_FREE);
    }
    assertThrows(IllegalArgumentException.class, () -> ConvSpec.symmetric(1, 0, 1));
  }

  @Test
  void kernelLargerThanPaddedInputIsRejected() {
    try (Context ctx = Context.cpu(1);
        Tensor x = ctx.tensor(1, 2, 2, 1);
        Tensor w = ctx.tensor(5, 5, 1, 1);
        Tensor y = ctx.tensor(1, 1, 1, 1)) {
      EffisegException e = assertThrows(EffisegException.class,
          () -> Ops.conv2dForward(ctx, x, w, null, y, ConvSpec.symmetric(0, 1, 1)));
      assertThat(e).hasMessageThat().contains("larger than padded input");
    }
  }

  /**
   * |actual - expected| <= ABS + REL * |expected| + 8 * eps32 * magnitude, where magnitude is the
   * sum of |terms| of that element: the scale of float32 rounding in a long sum (blocked or
   * pairwise summation stays within a small multiple of eps32 times it).
   */
  private static void assertWithinRounding(String what, float[] actual, float[] expected,
      double[] magnitude) {
    assertThat(actual.length).isEqualTo(expected.length);
    double eps32 = Math.ulp(1.0f);
    for (int i = 0; i < actual.length; i++) {
      double allowed = ABS + REL * Math.abs(expected[i]) + 8 * eps32 * magnitude[i];
      if (!(Math.abs(actual[i] - expected[i]) <= allowed)) {
        com.google.common.truth.Truth.assertWithMessage(
                "%s: element %s is %s, expected %s (allowed %s)", what, i, actual[i],
                expected[i], allowed)
            .fail();
      }
    }
  }

  // ---- the naive reference ----------------------------------------------------------------

  /** Direct loops in double: y, and the gradients of sum(y * dy). */
  private static final class Reference {
    double[] y;
    double[] dx;
    double[] dw;
    double[] db;
    /* sum of |terms| of each element: the scale of its float32 rounding error */
    double[] yMag;
    double[] dxMag;
    double[] dwMag;
    double[] dbMag;

    static Reference of(Case c, float[] x, float[] w, float[] b, float[] dy) {
      ConvSpec s = c.spec();
      int oh = c.oh(), ow = c.ow(), cig = c.cin / c.groups, cog = c.cout / c.groups;
      Reference r = new Reference();
      r.y = new double[c.n * oh * ow * c.cout];
      r.dx = new double[x.length];
      r.dw = new double[w.length];
      r.db = new double[c.cout];
      r.yMag = new double[r.y.length];
      r.dxMag = new double[x.length];
      r.dwMag = new double[w.length];
      r.dbMag = new double[c.cout];
      for (int n = 0; n < c.n; n++) {
        for (int i = 0; i < oh; i++) {
          for (int j = 0; j < ow; j++) {
            for (int co = 0; co < c.cout; co++) {
              int yi = ((n * oh + i) * ow + j) * c.cout + co;
              int g = co / cog;
              double acc = b == null ? 0 : b[co];
              double mag = b == null ? 0 : Math.abs(b[co]);
              double d = dy[yi];
              r.db[co] += d;
              r.dbMag[co] += Math.abs(d);
              for (int kh = 0; kh < c.kh; kh++) {
                int ih = i * s.strideH() - s.padTop() + kh;
                if (ih < 0 || ih >= c.h) {
                  continue;
                }
                for (int kw = 0; kw < c.kw; kw++) {
                  int iw = j * s.strideW() - s.padLeft() + kw;
                  if (iw < 0 || iw >= c.w) {
                    continue;
                  }
                  for (int ci = 0; ci < cig; ci++) {
                    int xi = ((n * c.h + ih) * c.w + iw) * c.cin + g * cig + ci;
                    int wi = ((kh * c.kw + kw) * cig + ci) * c.cout + co;
                    acc += (double) x[xi] * w[wi];
                    mag += Math.abs((double) x[xi] * w[wi]);
                    r.dx[xi] += d * w[wi];
                    r.dxMag[xi] += Math.abs(d * w[wi]);
                    r.dw[wi] += d * x[xi];
                    r.dwMag[wi] += Math.abs(d * x[xi]);
                  }
                }
              }
              r.y[yi] = acc;
              r.yMag[yi] = mag;
            }
          }
        }
      }
      return r;
    }
  }
}
