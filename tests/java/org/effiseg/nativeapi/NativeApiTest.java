package org.effiseg.nativeapi;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.effiseg.testing.NoNativeLeaks;
import org.effiseg.testing.Backends;
import org.effiseg.testing.Rand;
import org.effiseg.testing.Tolerance;
import org.effiseg.testing.TorchOracle;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Contexts, tensors, handle safety, error reporting and allocation accounting. */
@ExtendWith(NoNativeLeaks.class)
class NativeApiTest {
  @Test
  void tensorRoundTripsDataAndAccountsBytes() {
    try (Context ctx = Context.cpu(2)) {
      long before = NativeMemory.liveBytes();
      try (Tensor t = ctx.tensor(new float[] {1, 2, 3, 4, 5, 6}, 2, 3)) {
        assertThat(t.shape()).asList().containsExactly(2L, 3L).inOrder();
        assertThat(t.read()).usingExactEquality().containsExactly(1f, 2f, 3f, 4f, 5f, 6f).inOrder();
        assertThat(NativeMemory.liveBytes() - before).isEqualTo(24);
      }
      assertThat(NativeMemory.liveBytes()).isEqualTo(before);
    }
  }

  @Test
  void newTensorsAreZero() {
    try (Context ctx = Context.cpu(1);
        Tensor t = ctx.tensor(3, 5, 7)) {
      for (float v : t.read()) {
        assertThat(v).isEqualTo(0f);
      }
    }
  }

  @Test
  void viewsShareStorageAndOutliveTheirBase() {
    try (Context ctx = Context.cpu(1)) {
      Tensor base = ctx.tensor(new float[] {0, 1, 2, 3, 4, 5, 6, 7}, 8);
      Tensor view = base.view(2, 2, 2);
      view.fill(9);
      assertThat(base.read()).usingExactEquality().containsExactly(0f, 1f, 9f, 9f, 9f, 9f, 6f, 7f).inOrder();
      long bytes = NativeMemory.liveBytes();
      base.close();
      assertThat(NativeMemory.liveBytes()).isEqualTo(bytes); // the view still holds the storage
      assertThat(view.read()).usingExactEquality().containsExactly(9f, 9f, 9f, 9f).inOrder();
      view.close();
    }
  }

  @Test
  void closeIsIdempotentAndUseAfterCloseThrows() {
    try (Context ctx = Context.cpu(1)) {
      Tensor t = ctx.tensor(4);
      t.close();
      t.close();
      EffisegException e = assertThrows(EffisegException.class, t::read);
      assertThat(e.status()).isEqualTo(EffisegException.Status.USE_AFTER_FREE);
      assertThat(e).hasMessageThat().contains("closed");
    }
  }

  @Test
  void closingTheContextClosesItsTensors() {
    Context ctx = Context.cpu(1);
    Tensor a = ctx.tensor(16);
    Tensor b = a.view(0, 4);
    ctx.close();
    ctx.close();
    assertThat(a.isClosed()).isTrue();
    assertThat(b.isClosed()).isTrue();
    assertThrows(EffisegException.class, () -> ctx.tensor(1));
  }

  @Test
  void badShapesAreReportedWithOpAndShapes() {
    try (Context ctx = Context.cpu(1);
        Tensor a = ctx.tensor(2, 3);
        Tensor b = ctx.tensor(3, 2);
        Tensor y = ctx.tensor(2, 3)) {
      EffisegException e = assertThrows(EffisegException.class, () -> Ops.add(ctx, a, b, y));
      assertThat(e.status()).isEqualTo(EffisegException.Status.SHAPE);
      assertThat(e).hasMessageThat().contains("es_add");
      assertThat(e).hasMessageThat().contains("[2,3]");
      assertThat(e).hasMessageThat().contains("[3,2]");
    }
  }

  @Test
  void nullRequiredTensorIsAnExceptionNotACrash() {
    try (Context ctx = Context.cpu(1);
        Tensor a = ctx.tensor(2)) {
      EffisegException e = assertThrows(EffisegException.class, () -> Ops.add(ctx, a, null, a));
      assertThat(e.status()).isEqualTo(EffisegException.Status.NULL_HANDLE);
      assertThat(e).hasMessageThat().contains("b is a null handle");
    }
  }

  @Test
  void invalidTensorShapesAndRangesAreRejected() {
    try (Context ctx = Context.cpu(1)) {
      assertThrows(EffisegException.class, () -> ctx.tensor(2, 0));
      assertThrows(EffisegException.class, () -> ctx.tensor(new long[9]));
      try (Tensor t = ctx.tensor(4)) {
        assertThrows(IllegalArgumentException.class, () -> t.write(new float[3]));
        EffisegException e = assertThrows(EffisegException.class, () -> t.view(2, 3));
        assertThat(e).hasMessageThat().contains("exceeds base [4]");
        assertThrows(EffisegException.class, () -> t.read(3, new float[2], 2));
      }
    }
  }

  @Test
  void cudaIsAnErrorWhereUnavailableNeverASilentFallback() {
    String reason = Backend.CUDA.unavailableReason();
    org.junit.jupiter.api.Assumptions.assumeTrue(reason != null,
        "CUDA is available on this machine: there is no unavailable backend to ask for");
    assertThat(reason).isNotEmpty();
    EffisegException e =
        assertThrows(EffisegException.class, () -> Context.create(Backend.CUDA, 0, 1));
    assertThat(e.status()).isEqualTo(EffisegException.Status.BACKEND_UNAVAILABLE);
    assertThat(e).hasMessageThat().contains(reason);
  }

  @Test
  void cpuIsAlwaysAvailable() {
    assertThat(Backend.CPU.unavailableReason()).isNull();
    assertThat(NativeMemory.version()).isNotEmpty();
  }

  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void addAndAxpbyMatchPyTorch(Backend backend) {
    Rand rand = new Rand(7);
    float[] a = rand.normal(60, 1);
    float[] b = rand.normal(60, 1);
    try (Context ctx = Backends.open(backend);
        Tensor ta = ctx.tensor(a, 3, 4, 5);
        Tensor tb = ctx.tensor(b, 3, 4, 5);
        Tensor ty = ctx.tensor(3, 4, 5);
        TorchOracle torch = new TorchOracle()) {
      Ops.add(ctx, ta, tb, ty);
      NDArray sum = torch.array(a, 3, 4, 5).add(torch.array(b, 3, 4, 5));
      Tolerance.assertClose("add", ty.read(), sum.toFloatArray(), 0, 0);
      Ops.axpby(ctx, 0.5f, ta, -2f, ty); // y = 0.5 a - 2 (a + b)
      NDArray expected = torch.array(a, 3, 4, 5).mul(0.5f).sub(sum.mul(2f));
      Tolerance.assertClose("axpby", ty.read(), expected.toFloatArray(), 1e-6, 1e-6);
    }
  }

  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void contextMemoryCountsLiveAndPeakBytes(Backend backend) {
    try (Context ctx = Backends.open(backend)) {
      Context.MemoryStats start = ctx.memory();
      long mib = 1 << 20;
      try (Tensor a = ctx.tensor(mib / 4); Tensor b = ctx.tensor(mib / 4)) {
        a.fill(1);
        ctx.synchronize();
        Context.MemoryStats both = ctx.memory();
        assertThat(both.live() - start.live()).isAtLeast(2 * mib);
        assertThat(both.reserved()).isAtLeast(both.live());
        b.close();
        Context.MemoryStats one = ctx.memory();
        assertThat(both.live() - one.live()).isAtLeast(mib);
        assertThat(one.peakLive()).isAtLeast(both.live());
        assertThat(one.peakReserved()).isAtLeast(one.peakLive());
        ctx.resetPeakMemory();
        assertThat(ctx.memory().peakLive()).isEqualTo(one.live());
      }
      // a tensor of another context does not count here
      try (Context other = Backends.open(backend); Tensor t = other.tensor(1 << 18)) {
        assertThat(ctx.memory().live()).isEqualTo(start.live());
      }
    }
  }

  @ParameterizedTest
  @MethodSource("org.effiseg.testing.Backends#all")
  void profileCountsKernelCallsPerGeometryAndStops(Backend backend) {
    try (Context ctx = Backends.open(backend)) {
      assertThat(ctx.profile()).isEmpty();
      try (Tensor x = ctx.tensor(2, 9, 8, 6);
          Tensor w1 = ctx.tensor(1, 1, 6, 4);
          Tensor y1 = ctx.tensor(2, 9, 8, 4);
          Tensor w3 = ctx.tensor(3, 3, 1, 6);
          Tensor y3 = ctx.tensor(2, 5, 4, 6)) {
        ctx.startProfile();
        Ops.conv2dForward(ctx, x, w1, null, y1, ConvSpec.symmetric(0, 1, 1));
        Ops.conv2dForward(ctx, x, w1, null, y1, ConvSpec.symmetric(0, 1, 1));
        Ops.conv2dForward(ctx, x, w3, null, y3, ConvSpec.symmetric(1, 2, 6));
        Ops.add(ctx, y1, y1, y1);
        // kernels that take a length: a row per length (and activation), not one for all
        Ops.axpby(ctx, 1f, y1, 0f, y1);
        Ops.axpby(ctx, 1f, x, 0f, x);
        Ops.activationForward(ctx, Activation.SWISH, y3, y3);
        Ops.dropPathForward(ctx, x, x, 0.5f, 7, true);
        ctx.stopProfile();
        Ops.add(ctx, y1, y1, y1); // not profiled
        List<Context.ProfileRow> rows = ctx.profile();
        assertThat(rows.stream().map(r -> r.kernel() + " " + r.geometry() + " x" + r.calls()).toList())
            .containsExactly(
                "conv2d_forward pointwise 1x1/s1 [2,9,8,6]->[2,9,8,4] x2",
                "conv2d_forward depthwise 3x3/s2 [2,9,8,6]->[2,5,4,6] x1",
                "add [576] x1",
                "axpby [576] x1",
                "axpby [864] x1",
                "activation_forward swish [240] x1",
                "drop_path_forward [2,432] x1");
        for (Context.ProfileRow r : rows) {
          assertThat(r.ms()).isAtLeast(0.0);
          assertThat(r.msMedianCall()).isAtLeast(0.0);
          assertThat(r.msTypical()).isEqualTo(r.msMedianCall() * r.calls());
        }
        // work: 2 flops per multiply-add of the convolutions, compulsory bytes of every kernel
        // (rows come slowest first, so they are looked up by geometry)
        Map<String, Context.ProfileRow> byGeometry = new HashMap<>();
        rows.forEach(r -> byGeometry.put(r.kernel() + " " + r.geometry(), r));
        Context.ProfileRow pointwise =
            byGeometry.get("conv2d_forward pointwise 1x1/s1 [2,9,8,6]->[2,9,8,4]");
        Context.ProfileRow depthwise =
            byGeometry.get("conv2d_forward depthwise 3x3/s2 [2,9,8,6]->[2,5,4,6]");
        Context.ProfileRow add = byGeometry.get("add [576]");
        double pointwiseMacs = 2 * 9 * 8 * 4 * 6;
        assertThat(pointwise.flop()).isEqualTo(2 * 2 * pointwiseMacs);
        assertThat(pointwise.bytes()).isEqualTo(2 * 4 * (2 * 9 * 8 * 6 + 6 * 4 + 2 * 9 * 8 * 4));
        assertThat(depthwise.flop()).isEqualTo(2.0 * (2 * 5 * 4 * 6) * 9);
        assertThat(depthwise.bytes()).isEqualTo(4 * (2 * 9 * 8 * 6 + 9 * 6 + 2 * 5 * 4 * 6));
        // the median call: a single call's time, the mean of two (rounded to 1 ns in the report)
        assertThat(depthwise.msMedianCall()).isEqualTo(depthwise.ms());
        assertThat(add.msMedianCall()).isEqualTo(add.ms());
        assertThat(2 * pointwise.msMedianCall()).isWithin(2e-6).of(pointwise.ms());
        assertThat(add.flop()).isEqualTo(0.0);
        assertThat(add.bytes()).isEqualTo(4 * 3 * (2 * 9 * 8 * 4));
        for (int i = 1; i < rows.size(); i++) {
          assertThat(rows.get(i).ms()).isAtMost(rows.get(i - 1).ms());
        }
      }
      ctx.startProfile(); // afresh
      assertThat(ctx.profile()).isEmpty();
      try (Tensor t = ctx.tensor(4)) { // storage made while profiling outlives the profile
        ctx.stopProfile();
        t.fill(1);
        assertThat(t.read()).usingExactEquality().containsExactly(1f, 1f, 1f, 1f);
      }
    }
  }

  @Test
  void cpuPeaksAreMeasured() {
    try (Context ctx = Context.cpu(2)) {
      Context.Peaks p = ctx.measurePeaks();
      // any CPU of the last decades: above 1 GFLOP/s and 1 GB/s, below what no CPU reaches
      assertThat(p.flopsPerS()).isIn(com.google.common.collect.Range.open(1e9, 1e14));
      assertThat(p.bytesPerS()).isIn(com.google.common.collect.Range.open(1e9, 1e13));
    }
  }

  @Test
  void backendsListTheirDevicesOrNoneWhereUnavailable() {
    assertThat(Backend.CPU.devices()).hasSize(1);
    assertThat(Backend.CPU.devices().get(0)).contains(" cores");
    for (Backend b : Backend.values()) {
      if (b.isAvailable()) {
        assertThat(b.devices()).isNotEmpty();
      } else {
        assertThat(b.devices()).isEmpty();
      }
    }
  }
}
