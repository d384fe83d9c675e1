package org.effiseg.cuda;

import org.effiseg.nativeapi.Backend;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.NativeMemory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;

/**
 * The CUDA context under test and its CPU oracle, for the {@code cuda}-tagged tests. Where the
 * CUDA backend is unavailable, {@link #open()} gives contexts == null and {@link #require()}
 * skips each test with the reason. {@code -Deffiseg.cuda.selftest=true} makes a second CPU
 * context (other thread count) play the CUDA one, to check the tests themselves without a GPU.
 */
final class CudaUnderTest implements AutoCloseable {
  final Context cpu;
  final Context gpu;
  /** Why CUDA cannot run here, null if it can. */
  final String unavailable;

  private CudaUnderTest(Context cpu, Context gpu, String unavailable) {
    this.cpu = cpu;
    this.gpu = gpu;
    this.unavailable = unavailable;
  }

  static boolean selfTest() {
    return Boolean.getBoolean("effiseg.cuda.selftest");
  }

  static CudaUnderTest open() {
    // Loads the native library and shows which build runs before anything else asks it.
    NativeMemory.version();
    Context cpu = Context.cpu(2);
    if (selfTest()) {
      return new CudaUnderTest(cpu, Context.create(Backend.CPU, 0, 1), null);
    }
    String unavailable = Backend.CUDA.unavailableReason();
    Context gpu = unavailable == null ? Context.create(Backend.CUDA, 0, 1) : null;
    return new CudaUnderTest(cpu, gpu, unavailable);
  }

  /** Per test, so that each one is reported skipped with the reason (not the class silently). */
  void require() {
    Assumptions.assumeTrue(unavailable == null, () -> "CUDA backend unavailable: " + unavailable);
  }

  @Override
  public void close() {
    if (gpu != null) {
      gpu.close();
    }
    cpu.close();
  }

  /**
   * Base of a test class comparing CUDA with the CPU: opens {@link #pair} for the class, skips
   * each test with the reason where CUDA is unavailable, closes the pair after the class.
   */
  abstract static class Base {
    static CudaUnderTest pair;

    @BeforeAll
    static void openPair() {
      pair = CudaUnderTest.open();
    }

    @BeforeEach
    void requireCuda() {
      pair.require();
    }

    @AfterAll
    static void closePair() {
      if (pair != null) {
        pair.close();
        pair = null;
      }
    }
  }
}
