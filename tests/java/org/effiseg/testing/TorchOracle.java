package org.effiseg.testing;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;

/**
 * PyTorch (CPU, through DJL) as the parity oracle. Runs offline: libtorch comes from the
 * ai.djl.pytorch:pytorch-native-cpu test dependency (see pom.xml's surefire properties).
 *
 * <p>effiseg is NHWC; PyTorch ops here are NCHW, so {@link #fromNhwc} and {@link #toNhwc}
 * transpose at the boundary. Use one instance per test (try-with-resources) so every NDArray
 * it made is freed.
 */
public final class TorchOracle implements AutoCloseable {
  private final NDManager manager;

  public TorchOracle() {
    manager = Engine.getEngine("PyTorch").newBaseManager();
  }

  public NDManager manager() {
    return manager;
  }

  /** An array with the given shape and row-major data. */
  public NDArray array(float[] data, long... shape) {
    return manager.create(data, new Shape(shape));
  }

  /** NHWC data to an NCHW PyTorch array. */
  public NDArray fromNhwc(float[] data, long n, long h, long w, long c) {
    return manager.create(data, new Shape(n, h, w, c)).transpose(0, 3, 1, 2);
  }

  /** An NCHW array back to NHWC floats. */
  public static float[] toNhwc(NDArray nchw) {
    return nchw.transpose(0, 2, 3, 1).toFloatArray();
  }

  /** Conv weights [KH,KW,Cin/g,Cout] (effiseg) to PyTorch's [Cout,Cin/g,KH,KW]. */
  public NDArray weightsFromHwio(float[] data, long kh, long kw, long cinPerGroup, long cout) {
    return manager.create(data, new Shape(kh, kw, cinPerGroup, cout)).transpose(3, 2, 0, 1);
  }

  /** PyTorch's [Cout,Cin/g,KH,KW] gradient back to [KH,KW,Cin/g,Cout]. */
  public static float[] weightsToHwio(NDArray oihw) {
    return oihw.transpose(2, 3, 1, 0).toFloatArray();
  }

  /** Starts recording for autograd; call backward on the collector with a scalar. */
  public static GradientCollector record() {
    return Engine.getEngine("PyTorch").newGradientCollector();
  }

  @Override
  public void close() {
    manager.close();
  }
}
