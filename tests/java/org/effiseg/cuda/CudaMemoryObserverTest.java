package org.effiseg.cuda;

import static com.google.common.truth.Truth.assertWithMessage;

import java.util.Map;
import jcuda.runtime.JCuda;
import org.effiseg.model.EffiSegNet;
import org.effiseg.nativeapi.Backend;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Tensor;
import org.effiseg.testing.Rand;
import org.effiseg.train.TrainConfig;
import org.effiseg.train.TrainStep;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * An independent observer of the CUDA allocator: JCuda's runtime API ({@code cudaMemGetInfo},
 * its own statically linked cudart, sharing the device's primary context with ours) reads the
 * device's free memory around a thousand EffiSegNet-B0 training steps. After the warm-up the
 * allocator's cache must cover every step (free memory stays where it was), and closing the
 * context must hand what it reserved back to the driver. Skipped, with the reason, without CUDA
 * or where JCuda cannot load.
 */
@Tag("cuda")
class CudaMemoryObserverTest {
  private static final long MIB = 1 << 20;

  /** Free device memory as the driver reports it, or a skip naming why JCuda cannot tell. */
  private static long freeBytes() {
    long[] free = new long[1];
    long[] total = new long[1];
    try {
      JCuda.setExceptionsEnabled(true);
      JCuda.cudaMemGetInfo(free, total);
    } catch (Throwable e) { // UnsatisfiedLinkError, CudaException: the observer itself is missing
      Assumptions.abort("JCuda 12.6 cannot observe the device here: " + e);
    }
    return free[0];
  }

  @Test
  void aThousandTrainingStepsLeaveDeviceMemoryWhereItWasAndCloseReturnsIt() {
    Assumptions.assumeFalse(CudaUnderTest.selfTest(), "self-test mode: there is no device to observe");
    String unavailable = Backend.CUDA.unavailableReason();
    Assumptions.assumeTrue(unavailable == null, () -> "CUDA backend unavailable: " + unavailable);
    freeBytes(); // starts JCuda's runtime (and the device's primary context) before measuring

    TrainConfig config = TrainConfig.preset("paper");
    config.apply(Map.of("variant", "b0", "batch_size", 2), "test");
    config.validate();
    int n = 2, size = 64, warmup = 20, steps = 1000;
    Rand rand = new Rand(5);
    long freeAfterWarmup = 0;
    long freeAfterSteps;
    long reserved = 0;
    try (Context ctx = Context.create(Backend.CUDA, 0, 1)) {
      try (EffiSegNet model = EffiSegNet.create(ctx, config.modelConfig());
          TrainStep step = new TrainStep(model, config);
          Tensor x = ctx.tensor(rand.normal(n * size * size * 3, 1), n, size, size, 3);
          Tensor m = ctx.tensor(rand.binary(n * size * size), n, size, size, 1)) {
        for (int i = 0; i < warmup + steps; i++) {
          if (i == warmup) {
            ctx.synchronize();
            freeAfterWarmup = freeBytes();
            reserved = ctx.memory().reserved();
          }
          step.forwardBackward(x, m, i);
          step.update(config.lr, i + 1);
        }
        ctx.synchronize();
        freeAfterSteps = freeBytes();
        Context.MemoryStats mem = ctx.memory();
        System.out.printf("device free: %d MiB after %d warm-up steps, %d MiB after %d more;"
                + " allocator: %d MiB reserved then, %d MiB now, peak live %d MiB%n",
            freeAfterWarmup / MIB, warmup, freeAfterSteps / MIB, steps, reserved / MIB,
            mem.reserved() / MIB, mem.peakLive() / MIB);
        assertWithMessage("allocator's reserved bytes after %s steps vs after the warm-up", steps)
            .that(mem.reserved()).isEqualTo(reserved);
        assertWithMessage("device free bytes (JCuda) after %s steps vs after the warm-up", steps)
            .that((double) freeAfterSteps).isWithin(2.0 * MIB).of(freeAfterWarmup);
      }
    }
    long freeAfterClose = freeBytes();
    System.out.printf("device free after the context closed: %d MiB (+%d MiB)%n",
        freeAfterClose / MIB, (freeAfterClose - freeAfterSteps) / MIB);
    assertWithMessage("bytes the driver got back when the context closed (reserved: %s)", reserved)
        .that(freeAfterClose - freeAfterSteps).isAtLeast(reserved - 2 * MIB);
  }
}
