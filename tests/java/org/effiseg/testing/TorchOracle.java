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

  /**
   * NHWC data to an NCHW PyTorch array, contiguous in NCHW order: rearranged here rather than
   * passed as a transposed (channels-last) view, so PyTorch runs its default-layout kernels.
   * (Seen under load, 3 times: a NaN weight gradient from PyTorch's convolution backward on the
   * channels-last view of the input, with matching logits.)
   */
  public NDArray fromNhwc(float[] data, long n, long h, long w, long c) {
    float[] nchw = new float[data.length];
    int hw = (int) (h * w);
    for (int b = 0; b < n; b++) {
      for (int p = 0; p < hw; p++) {
        for (int ch = 0; ch < c; ch++) {
          nchw[(int) ((b * c + ch) * hw + p)] = data[(int) ((b * hw + p) * c + ch)];
        }
      }
    }
    return manager.create(nchw, new Shape(n, c, h, w));
  }

  /** An NCHW array back to NHWC floats. */
  public static float[] toNhwc(NDArray nchw) {
    return nchw.transpose(0, 2, 3, 1).toFloatArray();
  }

  /** Conv weights [KH,KW,Cin/g,Cout] (effiseg) to PyTorch's [Cout,Cin/g,KH,KW]. */
  public NDArray weightsFromHwio(float[] data, long kh, long kw, long cinPerGroup, long cout) {
    float[] oihw = org.effiseg.model.TensorLayouts.hwioToOihw(data, (int) kh, (int) kw,
        (int) cinPerGroup, (int) cout);
    return manager.create(oihw, new Shape(cout, cinPerGroup, kh, kw));
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
