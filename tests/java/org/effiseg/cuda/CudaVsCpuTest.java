package org.effiseg.cuda;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;

import java.util.ArrayList;
import java.util.List;
import org.effiseg.nativeapi.Activation;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.ConvSpec;
import org.effiseg.nativeapi.NativeMemory;
import org.effiseg.nativeapi.Ops;
import org.effiseg.nativeapi.Tensor;
import org.effiseg.testing.Rand;
import org.effiseg.testing.Tolerance;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every op of the C ABI on the CUDA backend against the CPU backend (the oracle), forward and
 * backward, on small odd shapes that exercise each code path (cuBLAS pointwise, hand-written
 * depthwise, cuDNN dense/grouped/strided with symmetric and asymmetric padding, ...). Outputs
 * must agree within |cuda - cpu| <= abs + rel * |cpu|; the CUDA backend sums in other orders
 * than the CPU, so agreement is to rounding, not bit for bit (AdamW and the gathers excepted).
 *
 * <p>Skipped, with the reason, where the CUDA backend is unavailable (no GPU, no driver, no
 * cuDNN): run it on a GPU machine with scripts/gpu-check.sh. {@code -Deffiseg.cuda.selftest=true}
 * runs it with a second CPU context in the CUDA role, to check the test itself without a GPU.
 */
@Tag("cuda")
class CudaVsCpuTest extends CudaUnderTest.Base {
  private static Context cpu;
  private static Context gpu;

  @BeforeAll
  static void contexts() {
    cpu = pair.cpu;
    gpu = pair.gpu;
  }

  /** Tensors of one run of a case, closed together. */
  private static final class Scope implements AutoCloseable {
    final Context ctx;
    private final List<Tensor> tensors = new ArrayList<>();

    Scope(Context ctx) {
      this.ctx = ctx;
    }

    Tensor of(float[] data, long... shape) {
      Tensor t = ctx.tensor(data, shape);
      tensors.add(t);
      return t;
    }

    Tensor zeros(long... shape) {
      Tensor t = ctx.tensor(shape);
      tensors.add(t);
      return t;
    }

    @Override
    public void close() {
      for (Tensor t : tensors) {
        t.close();
      }
    }
  }

  /** One case: runs ops in a scope and returns the tensors to compare, read back. */
  private interface Case {
    List<float[]> run(Scope s);
  }

  private static List<float[]> runOn(Context ctx, Case c) {
    try (Scope s = new Scope(ctx)) {
      return c.run(s);
    }
  }

  private static void agree(String what, double abs, double rel, Case c) {
    List<float[]> expected = runOn(cpu, c);
    List<float[]> actual = runOn(gpu, c);
    assertThat(actual.size()).isEqualTo(expected.size());
    for (int i = 0; i < expected.size(); i++) {
      Tolerance.assertClose(what + ", output " + i, actual.get(i), expected.get(i), abs, rel);
    }
  }

  private static List<float[]> read(Tensor... ts) {
    List<float[]> out = new ArrayList<>();
    for (Tensor t : ts) {
      out.add(t.read());
    }
    return out;
  }

  // ---- memory and elementwise ------------------------------------------------------------

  @Test
  void memoryAndElementwise() {
    Rand r = new Rand(1);
    int n = 1000 + 7;
    float[] a = r.normal(n, 1);
    float[] b = r.normal(n, 1);
    agree("add/axpby/fill/copy", 0, 0, s -> {
      Tensor ta = s.of(a, n);
      Tensor tb = s.of(b, n);
      Tensor sum = s.zeros(n);
      Ops.add(s.ctx, ta, tb, sum);
      Tensor y = s.of(b, n);
      Ops.axpby(s.ctx, 0.5f, ta, -2f, y);
      Tensor z = s.zeros(n);
      Ops.axpby(s.ctx, 3f, ta, 0f, z);
      Tensor filled = s.zeros(n);
      filled.fill(0.25f);
      Tensor copied = s.zeros(n);
      copied.copyFrom(ta);
      Tensor fresh = s.zeros(3, 5, 7);
      return read(sum, y, z, filled, copied, fresh);
    });
  }

  @Test
  void overlappingCopyBehavesLikeMemmove() {
    float[] data = new float[64];
    for (int i = 0; i < data.length; i++) {
      data[i] = i;
    }
    agree("overlapping copy", 0, 0, s -> {
      Tensor base = s.of(data, 64);
      try (Tensor src = base.view(0, 48);
          Tensor dst = base.view(8, 48)) {
        dst.copyFrom(src);
      }
      return read(base);
    });
  }

  // ---- convolution -----------------------------------------------------------------------

  /** {N, H, W, Cin, Cout, KH, KW} with a ConvSpec; named for the path it should take. */
  private record ConvCase(String name, int n, int h, int w, int cin, int cout, int kh, int kw, ConvSpec spec) {}

  private static List<ConvCase> convCases() {
    return List.of(
        new ConvCase("pointwise (cuBLAS)", 2, 7, 5, 13, 11, 1, 1, ConvSpec.symmetric(0, 1, 1)),
        new ConvCase("depthwise 3x3 s1 same", 2, 9, 7, 19, 19, 3, 3, ConvSpec.same(9, 7, 3, 3, 1, 19)),
        new ConvCase("depthwise 5x5 s2 same, asymmetric", 3, 10, 9, 7, 7, 5, 5, ConvSpec.same(10, 9, 5, 5, 2, 7)),
        new ConvCase("depthwise 3x3 s2, top-heavy padding", 2, 6, 6, 5, 5, 3, 3, new ConvSpec(2, 2, 1, 0, 1, 0, 5)),
        new ConvCase("depthwise 3x3 s1 same, 12 channels (float4)", 2, 9, 7, 12, 12, 3, 3, ConvSpec.same(9, 7, 3, 3, 1, 12)),
        new ConvCase("depthwise 5x5 s2 same, asymmetric, 8 channels (float4)", 3, 10, 9, 8, 8, 5, 5, ConvSpec.same(10, 9, 5, 5, 2, 8)),
        new ConvCase("depthwise 3x3 s2, top-heavy padding, 4 channels (float4)", 2, 7, 6, 4, 4, 3, 3, new ConvSpec(2, 2, 1, 0, 1, 0, 4)),
        new ConvCase("depthwise 3x3 s1 same, 40 channels (filter gradient: a full and a partial 32-channel tile)",
            2, 11, 9, 40, 40, 3, 3, ConvSpec.same(11, 9, 3, 3, 1, 40)),
        new ConvCase("depthwise 5x5 s2 same, 36 channels, one image", 1, 13, 12, 36, 36, 5, 5, ConvSpec.same(13, 12, 5, 5, 2, 36)),
        new ConvCase("depthwise 7x7 s1 same (filter gradient by column sums)", 2, 9, 8, 8, 8, 7, 7, ConvSpec.same(9, 8, 7, 7, 1, 8)),
        new ConvCase("stem 3x3 s2 same, even input (padded buffer)", 2, 12, 10, 3, 8, 3, 3, ConvSpec.same(12, 10, 3, 3, 2, 1)),
        new ConvCase("dense 3x3 s2 same, odd input (symmetric)", 2, 11, 9, 3, 8, 3, 3, ConvSpec.same(11, 9, 3, 3, 2, 1)),
        new ConvCase("dense 3x3 s1 pad 1", 1, 8, 7, 6, 5, 3, 3, ConvSpec.symmetric(1, 1, 1)),
        new ConvCase("grouped 3x3", 2, 7, 6, 12, 6, 3, 3, ConvSpec.symmetric(1, 1, 3)),
        new ConvCase("depthwise with multiplier 2 (cuDNN)", 2, 7, 7, 4, 8, 3, 3, ConvSpec.symmetric(1, 1, 4)),
        new ConvCase("strided 1x1", 2, 9, 8, 6, 10, 1, 1, ConvSpec.symmetric(0, 2, 1)),
        new ConvCase("1x1 with padding", 1, 5, 4, 3, 4, 1, 1, new ConvSpec(1, 1, 1, 0, 0, 2, 1)));
  }

  @Test
  void conv2dForwardAndBackward() {
    for (ConvCase c : convCases()) {
      Rand r = new Rand(c.name().hashCode());
      int oh = c.spec().outH(c.h(), c.kh());
      int ow = c.spec().outW(c.w(), c.kw());
      int cg = c.cin() / c.spec().groups();
      long[] xs = {c.n(), c.h(), c.w(), c.cin()};
      long[] ws = {c.kh(), c.kw(), cg, c.cout()};
      long[] ys = {c.n(), oh, ow, c.cout()};
      float[] x = r.normal(Rand.size(xs), 1);
      float[] w = r.normal(Rand.size(ws), 0.5);
      float[] b = r.normal(c.cout(), 1);
      float[] dy = r.normal(Rand.size(ys), 1);
      agree("conv2d " + c.name(), 1e-4, 1e-4, s -> {
        Tensor tx = s.of(x, xs);
        Tensor tw = s.of(w, ws);
        Tensor tb = s.of(b, c.cout());
        Tensor y = s.zeros(ys);
        Ops.conv2dForward(s.ctx, tx, tw, tb, y, c.spec());
        Tensor tdy = s.of(dy, ys);
        Tensor dx = s.zeros(xs);
        Tensor dw = s.zeros(ws);
        Tensor db = s.zeros(c.cout());
        Tensor dxOnly = s.zeros(xs);
        Tensor dwOnly = s.zeros(ws);
        // weights only first (the stem's case in training): the first backward call of a
        // geometry picks and caches its algorithms
        Ops.conv2dBackward(s.ctx, tx, tw, tdy, null, dwOnly, null, c.spec());
        Ops.conv2dBackward(s.ctx, tx, tw, tdy, dx, dw, db, c.spec());
        Ops.conv2dBackward(s.ctx, tx, tw, tdy, dxOnly, null, null, c.spec());
        return read(y, dx, dw, db, dxOnly, dwOnly);
      });
    }
  }

  /** The gated pointwise convolution: forward with the whole epilogue, backward with every
   *  gradient (ds too) and with dx alone. */
  @Test
  void gatedConv2dForwardAndBackward() {
    Rand r = new Rand(41);
    long[] xs = {3, 7, 5, 13};
    long[] ws = {1, 1, 13, 11};
    long[] ys = {3, 7, 5, 11};
    float[] x = r.normal(Rand.size(xs), 1);
    float[] gate = r.uniform(3 * 13, 0.1, 1.9);
    float[] w = r.normal(Rand.size(ws), 0.5);
    float[] b = r.normal(11, 1);
    float[] scale = r.uniform(11, 0.5, 1.5);
    float[] shift = r.normal(11, 1);
    float[] residual = r.normal(Rand.size(ys), 1);
    float[] dy = r.normal(Rand.size(ys), 1);
    agree("gated conv2d", 1e-4, 1e-4, s -> {
      Tensor tx = s.of(x, xs);
      Tensor ts = s.of(gate, 3, 1, 1, 13);
      Tensor tw = s.of(w, ws);
      Tensor tb = s.of(b, 11);
      Tensor y = s.zeros(ys);
      Ops.conv2dForwardGated(s.ctx, tx, ts, tw, tb, y, Activation.SWISH, s.of(scale, 11),
          s.of(shift, 11), s.of(residual, ys));
      Tensor tdy = s.of(dy, ys);
      Tensor dx = s.zeros(xs);
      Tensor dw = s.zeros(ws);
      Tensor db = s.zeros(11);
      Tensor ds = s.zeros(3, 1, 1, 13);
      Tensor dxOnly = s.zeros(xs);
      Ops.conv2dBackwardGated(s.ctx, tx, ts, tw, tdy, dx, dw, db, ds);
      Ops.conv2dBackwardGated(s.ctx, tx, ts, tw, tdy, dxOnly, null, null, null);
      return read(y, dx, dw, db, ds, dxOnly);
    });
  }

  /** A pointwise conv of two channel blocks with the whole epilogue. */
  @Test
  void convolutionOfTwoChannelBlocks() {
    Rand r = new Rand(53);
    long[] x1s = {3, 7, 5, 13};
    long[] x2s = {3, 7, 5, 6};
    long[] ws = {1, 1, 19, 11};
    long[] ys = {3, 7, 5, 11};
    float[] x1 = r.normal(Rand.size(x1s), 1);
    float[] x2 = r.normal(Rand.size(x2s), 1);
    float[] w = r.normal(Rand.size(ws), 0.5);
    float[] b = r.normal(11, 1);
    float[] scale = r.uniform(11, 0.5, 1.5);
    float[] shift = r.normal(11, 1);
    float[] residual = r.normal(Rand.size(ys), 1);
    agree("conv2d of two channel blocks", 1e-4, 1e-4, s -> {
      Tensor y = s.zeros(ys);
      Ops.conv2dForwardBlocks(s.ctx, s.of(x1, x1s), s.of(x2, x2s), s.of(w, ws), s.of(b, 11), y,
          Activation.RELU, s.of(scale, 11), s.of(shift, 11), s.of(residual, ys));
      return read(y);
    });
  }

  /** A training-mode batch norm's backward left unfinished and finished by the pointwise
   *  convolution before it, plain and gated, after a ReLU or not, and for an input in two
   *  channel blocks. */
  @ParameterizedTest
  @EnumSource(Activation.class)
  void batchnormBackwardFinishedByTheConvolution(Activation act) {
    Rand r = new Rand(43);
    long[] xs = {3, 7, 5, 13};
    long[] ws = {1, 1, 13, 11};
    long[] ys = {3, 7, 5, 11};
    float[] x = r.normal(Rand.size(xs), 1);
    float[] gate = r.uniform(3 * 13, 0.1, 1.9);
    float[] w = r.normal(Rand.size(ws), 0.5);
    float[] gamma = r.uniform(11, 0.5, 1.5);
    float[] beta = r.normal(11, 0.5);
    float[] dy = r.normal(Rand.size(ys), 1);
    for (boolean gated : new boolean[] {false, true}) {
      agree("deferred batchnorm + conv " + act + (gated ? " gated" : ""), 1e-4, 1e-4, s -> {
        Tensor tx = s.of(x, xs);
        Tensor ts = gated ? s.of(gate, 3, 1, 1, 13) : null;
        Tensor tw = s.of(w, ws);
        Tensor y = s.zeros(ys);
        if (gated) {
          Ops.conv2dForwardGated(s.ctx, tx, ts, tw, null, y, Activation.RELU, null, null, null);
        } else {
          Ops.conv2dForwardFused(s.ctx, tx, tw, null, y, ConvSpec.symmetric(0, 1, 1), Activation.RELU,
              null, null, null);
        }
        Tensor g = s.of(gamma, 11);
        Tensor bt = s.of(beta, 11);
        Tensor sm = s.zeros(11);
        Tensor si = s.zeros(11);
        Ops.batchnormForward(s.ctx, y, g, bt, s.zeros(11), s.zeros(11), s.zeros(ys), sm, si, true, 0.1f,
            1e-3f, act);
        Tensor tdy = s.of(dy, ys);
        Tensor gr = s.zeros(ys);
        Tensor coef = s.zeros(3, 11);
        Tensor dgamma = s.zeros(11);
        Tensor dbeta = s.zeros(11);
        Ops.batchnormBackwardDeferred(s.ctx, y, g, bt, tdy, sm, si, gr, coef, dgamma, dbeta, act);
        List<float[]> out = read(gr, coef, dgamma, dbeta);
        for (boolean relu : new boolean[] {false, true}) {
          Tensor dx = s.zeros(xs);
          Tensor dw = s.zeros(ws);
          Tensor ds = gated ? s.zeros(3, 1, 1, 13) : null;
          Ops.conv2dBackwardBn(s.ctx, tx, ts, tw, gr, y, sm, coef, relu, dx, dw, ds);
          out.addAll(gated ? read(dx, dw, ds) : read(dx, dw));
          if (!gated) { // the same input as two channel blocks, 8 + 5 channels
            Tensor x1 = s.zeros(3, 7, 5, 8);
            Tensor x2 = s.zeros(3, 7, 5, 5);
            Ops.channelCopy(s.ctx, tx, 0, x1, 0, 8, false);
            Ops.channelCopy(s.ctx, tx, 8, x2, 0, 5, false);
            Tensor dx1 = s.zeros(3, 7, 5, 8);
            Tensor dx2 = s.zeros(3, 7, 5, 5);
            Tensor dwBlocks = s.zeros(ws);
            Ops.conv2dBackwardBnBlocks(s.ctx, x1, x2, tw, gr, y, sm, coef, relu, dx1, dx2, dwBlocks);
            out.addAll(read(dx1, dx2, dwBlocks));
          }
        }
        return out;
      });
    }
  }

  // ---- batch norm (+ fused activation), activations -------------------------------------

  @ParameterizedTest
  @EnumSource(Activation.class)
  void batchnormTrainingAndEval(Activation act) {
    Rand r = new Rand(7 + act.ordinal());
    long[] shape = {3, 5, 7, 19};
    int c = 19;
    float[] x = r.normal(Rand.size(shape), 2);
    for (int i = 0; i < x.length; i++) {
      x[i] += 3 + (i % c); // channel means far from zero: the shifted statistics matter
    }
    float[] gamma = r.uniform(c, 0.5, 1.5);
    float[] beta = r.normal(c, 0.5);
    float[] rm = r.normal(c, 1);
    float[] rv = r.uniform(c, 0.5, 2);
    float[] dy = r.normal(Rand.size(shape), 1);
    float[] gate = r.uniform(3 * c, 0, 1); // a squeeze-excite gate and pooled gradient, [3,1,1,c]
    float[] dPooled = r.normal(3 * c, 1);
    float[] relu = new float[x.length]; // a ReLU's output, about half zeros (the decoder's case)
    for (int i = 0; i < x.length; i++) {
      relu[i] = Math.max(x[i] - 3 - (i % c), 0f);
    }
    for (boolean training : new boolean[] {true, false}) {
      agree("batchnorm " + act + (training ? " training" : " eval"), 2e-4, 2e-4, s -> {
        Tensor tx = s.of(x, shape);
        Tensor g = s.of(gamma, c);
        Tensor bt = s.of(beta, c);
        Tensor m = s.of(rm, c);
        Tensor v = s.of(rv, c);
        Tensor y = s.zeros(shape);
        Tensor sm = s.zeros(c);
        Tensor si = s.zeros(c);
        Ops.batchnormForward(s.ctx, tx, g, bt, m, v, y, sm, si, training, 0.1f, 1e-3f, act);
        Tensor tdy = s.of(dy, shape);
        Tensor dx = s.zeros(shape);
        Tensor dg = s.zeros(c);
        Tensor db = s.zeros(c);
        Ops.batchnormBackward(s.ctx, tx, g, bt, tdy, sm, si, dx, dg, db, training, act);
        Tensor dxOnly = s.zeros(shape);
        Ops.batchnormBackward(s.ctx, tx, g, bt, tdy, sm, si, dxOnly, null, null, training, act);
        Tensor tr = s.of(relu, shape);
        Tensor yr = s.zeros(shape);
        Tensor smr = s.zeros(c);
        Tensor sir = s.zeros(c);
        Ops.batchnormForward(s.ctx, tr, g, bt, m, v, yr, smr, sir, training, 0.1f, 1e-3f, act);
        Tensor dxr = s.zeros(shape);
        Tensor dgr = s.zeros(c);
        Tensor dbr = s.zeros(c);
        Ops.batchnormBackwardAfterRelu(s.ctx, tr, g, bt, tdy, smr, sir, dxr, dgr, dbr, training, act);
        Tensor dxg = s.zeros(shape);
        Tensor dgg = s.zeros(c);
        Tensor dbg = s.zeros(c);
        Ops.batchnormBackwardGated(s.ctx, tx, g, bt, tdy, s.of(gate, 3, 1, 1, c), s.of(dPooled, 3, 1, 1, c),
            1f / 35, sm, si, dxg, dgg, dbg, training, act);
        Tensor yp = s.zeros(shape);
        Tensor pooled = s.zeros(3, 1, 1, c);
        Ops.batchnormForwardPooled(s.ctx, tx, g, bt, s.of(rm, c), s.of(rv, c), yp, s.zeros(c), s.zeros(c),
            training, 0.1f, 1e-3f, act, pooled);
        return read(y, m, v, sm, si, dx, dg, db, dxOnly, yr, dxr, dgr, dbr, dxg, dgg, dbg, yp, pooled);
      });
    }
  }

  @ParameterizedTest
  @EnumSource(Activation.class)
  void activations(Activation act) {
    Rand r = new Rand(11);
    int n = 4099;
    float[] x = r.normal(n, 6);
    x[0] = 0f;
    x[1] = -0f;
    x[2] = 40f;
    x[3] = -40f;
    float[] dy = r.normal(n, 1);
    agree("activation " + act, 1e-6, 2e-6, s -> {
      Tensor tx = s.of(x, n);
      Tensor y = s.zeros(n);
      Ops.activationForward(s.ctx, act, tx, y);
      Tensor dx = s.zeros(n);
      Ops.activationBackward(s.ctx, act, tx, s.of(dy, n), dx);
      return read(y, dx);
    });
  }

  // ---- pooling, squeeze-excite gate, stochastic depth ------------------------------------

  @Test
  void poolingAndChannelScale() {
    Rand r = new Rand(13);
    long[] shape = {3, 9, 11, 37};
    long[] gate = {3, 1, 1, 37};
    float[] x = r.normal(Rand.size(shape), 1);
    float[] sc = r.uniform(Rand.size(gate), 0, 1);
    float[] dyPool = r.normal(Rand.size(gate), 1);
    float[] dy = r.normal(Rand.size(shape), 1);
    agree("pool / channel scale", 1e-5, 1e-5, s -> {
      Tensor tx = s.of(x, shape);
      Tensor pooled = s.zeros(gate);
      Ops.globalAvgPoolForward(s.ctx, tx, pooled);
      Tensor dxPool = s.zeros(shape);
      Ops.globalAvgPoolBackward(s.ctx, s.of(dyPool, gate), dxPool);
      Tensor ts = s.of(sc, gate);
      Tensor y = s.zeros(shape);
      Ops.channelScaleForward(s.ctx, tx, ts, y);
      Tensor dx = s.zeros(shape);
      Tensor ds = s.zeros(gate);
      Ops.channelScaleBackward(s.ctx, tx, ts, s.of(dy, shape), dx, ds);
      Tensor added = s.zeros(shape);
      Ops.channelScaleAdd(s.ctx, tx, ts, s.of(dyPool, gate), 1f / 99, added);
      return read(pooled, dxPool, y, dx, ds, added);
    });
  }

  @Test
  void dropPathUsesTheCpuMask() {
    Rand r = new Rand(17);
    long[] shape = {9, 4, 5, 3};
    float[] x = r.normal(Rand.size(shape), 1);
    agree("drop path", 0, 0, s -> {
      Tensor tx = s.of(x, shape);
      Tensor y = s.zeros(shape);
      Ops.dropPathForward(s.ctx, tx, y, 0.4f, 1234L, true);
      Tensor dx = s.zeros(shape);
      Ops.dropPathBackward(s.ctx, tx, dx, 0.4f, 1234L, true);
      Tensor eval = s.zeros(shape);
      Ops.dropPathForward(s.ctx, tx, eval, 0.4f, 1234L, false);
      return read(y, dx, eval);
    });
  }

  // ---- decoder: upsampling, channel copies ------------------------------------------------

  @Test
  void upsampleNearest() {
    int[][] sizes = {{5, 4, 13, 11}, {4, 3, 8, 6}, {6, 6, 6, 6}, {9, 7, 4, 3}, {7, 7, 224, 224}};
    for (int[] hw : sizes) {
      Rand r = new Rand(hw[0] * 100 + hw[2]);
      long[] small = {2, hw[0], hw[1], 3};
      long[] big = {2, hw[2], hw[3], 3};
      float[] x = r.normal(Rand.size(small), 1);
      float[] y0 = r.normal(Rand.size(big), 1);
      float[] dy = r.normal(Rand.size(big), 1);
      agree("upsample " + java.util.Arrays.toString(hw), 1e-6, 1e-6, s -> {
        Tensor tx = s.of(x, small);
        Tensor y = s.zeros(big);
        Ops.upsampleNearestForward(s.ctx, tx, y, false);
        Tensor acc = s.of(y0, big);
        Ops.upsampleNearestForward(s.ctx, tx, acc, true);
        Tensor dx = s.zeros(small);
        Ops.upsampleNearestBackward(s.ctx, s.of(dy, big), dx);
        return read(y, acc, dx);
      });
    }
  }

  @Test
  void channelCopy() {
    Rand r = new Rand(19);
    long[] xs = {2, 3, 5, 7};
    long[] ys = {2, 3, 5, 11};
    float[] x = r.normal(Rand.size(xs), 1);
    float[] y0 = r.normal(Rand.size(ys), 1);
    agree("channel copy", 0, 0, s -> {
      Tensor tx = s.of(x, xs);
      Tensor y = s.of(y0, ys);
      Ops.channelCopy(s.ctx, tx, 2, y, 4, 5, false);
      Tensor acc = s.of(y0, ys);
      Ops.channelCopy(s.ctx, tx, 0, acc, 1, 7, true);
      return read(y, acc);
    });
  }

  // ---- loss and optimizer ------------------------------------------------------------------

  @Test
  void segLoss() {
    Rand r = new Rand(23);
    long[] shape = {3, 17, 19, 1};
    float[] logits = r.normal(Rand.size(shape), 3);
    float[] target = r.binary(Rand.size(shape));
    float[][] weights = {{1, 1, 0.5f}, {1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {0.3f, 0.7f, 0}};
    for (int d : new int[] {1, 2, 5}) {
      for (float[] lw : weights) {
        agree("seg loss d=" + d + " w=" + java.util.Arrays.toString(lw), 1e-6, 1e-4, s -> {
          Tensor tl = s.of(logits, shape);
          Tensor tt = s.of(target, shape);
          Tensor terms = s.zeros(4);
          Tensor dl = s.zeros(shape);
          Ops.segLoss(s.ctx, tl, tt, terms, dl, lw[0], lw[1], lw[2], d);
          Tensor termsOnly = s.zeros(4);
          Ops.segLoss(s.ctx, tl, tt, termsOnly, null, lw[0], lw[1], lw[2], d);
          return read(terms, dl, termsOnly);
        });
      }
    }
  }

  @Test
  void adamwMatchesTheCpuUpdate() {
    Rand r = new Rand(29);
    int n = 1000 + 3;
    float[] p = r.normal(n, 1);
    float[][] grads = {r.normal(n, 1), r.normal(n, 0.1), r.normal(n, 10)};
    agree("adamw, 3 steps", 1e-9, 1e-6, s -> {
      Tensor tp = s.of(p, n);
      Tensor m = s.zeros(n);
      Tensor v = s.zeros(n);
      for (int step = 1; step <= 3; step++) {
        Ops.adamwStep(s.ctx, tp, s.of(grads[step - 1], n), m, v, 1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f, step);
      }
      return read(tp, m, v);
    });
  }

  // ---- backend properties ------------------------------------------------------------------

  @Test
  void reductionsAreDeterministic() {
    Rand r = new Rand(31);
    long[] shape = {4, 33, 35, 24};
    float[] x = r.normal(Rand.size(shape), 1);
    float[] dy = r.normal(Rand.size(shape), 1);
    List<float[]> first = null;
    for (int run = 0; run < 3; run++) {
      try (Scope s = new Scope(gpu)) {
        Tensor tx = s.of(x, shape);
        Tensor g = s.of(r.uniform(24, 1, 1), 24);
        Tensor bt = s.zeros(24);
        Tensor m = s.zeros(24);
        Tensor v = s.zeros(24);
        Tensor y = s.zeros(shape);
        Tensor sm = s.zeros(24);
        Tensor si = s.zeros(24);
        Ops.batchnormForward(gpu, tx, g, bt, m, v, y, sm, si, true, 0.1f, 1e-3f, Activation.SWISH);
        Tensor dx = s.zeros(shape);
        Tensor dg = s.zeros(24);
        Tensor db = s.zeros(24);
        Ops.batchnormBackward(gpu, tx, g, bt, s.of(dy, shape), sm, si, dx, dg, db, true, Activation.SWISH);
        List<float[]> now = read(y, sm, si, dx, dg, db);
        if (first == null) {
          first = now;
        } else {
          for (int i = 0; i < now.size(); i++) {
            assertWithMessage("run %s, output %s", run, i).that(now.get(i)).isEqualTo(first.get(i));
          }
        }
      }
    }
  }

  @Test
  void tensorsAreAccountedAndReleased() {
    long bytes = NativeMemory.liveBytes();
    long handles = NativeMemory.liveHandles();
    for (int i = 0; i < 200; i++) {
      try (Tensor t = gpu.tensor(1 + i * 37L, 3)) {
        assertThat(t.read()[0]).isEqualTo(0f); // zero-filled, also when the block is reused
        t.fill(i);
      }
    }
    assertThat(NativeMemory.liveBytes()).isEqualTo(bytes);
    assertThat(NativeMemory.liveHandles()).isEqualTo(handles);
  }
}
