package org.effiseg.testing;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.util.Map;

/**
 * An exported model in ONNX Runtime (CPU), created with every graph optimisation on — which also
 * makes session creation the model checker: a graph ORT cannot type, shape-infer or fuse fails
 * here. Runs NCHW float batches; converts from effiseg's NHWC.
 */
public final class OrtModel implements AutoCloseable {
  private final OrtEnvironment env = OrtEnvironment.getEnvironment();
  private final OrtSession session;

  public OrtModel(byte[] model, int threads) throws OrtException {
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
      options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
      options.setIntraOpNumThreads(threads);
      options.setInterOpNumThreads(1);
      session = env.createSession(model, options);
    }
  }

  public OrtSession session() {
    return session;
  }

  /** The model's first output for {@code nchw} of shape {@code shape}, flat. */
  public float[] run(float[] nchw, long... shape) throws OrtException {
    try (OnnxTensor input = OnnxTensor.createTensor(env, FloatBuffer.wrap(nchw), shape);
        OrtSession.Result result = session.run(Map.of("image", input))) {
      FloatBuffer out = ((OnnxTensor) result.get(0)).getFloatBuffer();
      float[] values = new float[out.remaining()];
      out.get(values);
      return values;
    }
  }

  /** [n,h,w,c] to [n,c,h,w]. */
  public static float[] nchw(float[] nhwc, int n, int h, int w, int c) {
    float[] out = new float[nhwc.length];
    for (int b = 0; b < n; b++) {
      for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
          for (int k = 0; k < c; k++) {
            out[((b * c + k) * h + y) * w + x] = nhwc[((b * h + y) * w + x) * c + k];
          }
        }
      }
    }
    return out;
  }

  /**
   * Asserts max |actual - expected| over the tensor is within {@code tol} times the range of
   * {@code expected} (the "1e-4 relative") and returns that relative error.
   */
  public static double assertWithinRange(String what, float[] actual, float[] expected, double tol) {
    if (actual.length != expected.length) {
      throw new AssertionError(what + ": " + actual.length + " values, expected " + expected.length);
    }
    double lo = Double.POSITIVE_INFINITY;
    double hi = Double.NEGATIVE_INFINITY;
    double worst = 0;
    int at = 0;
    for (int i = 0; i < expected.length; i++) {
      lo = Math.min(lo, expected[i]);
      hi = Math.max(hi, expected[i]);
      double d = Math.abs((double) actual[i] - expected[i]);
      if (!(d <= worst)) {
        worst = d;
        at = i;
      }
    }
    double relative = worst / (hi - lo);
    if (!(relative <= tol) || !(hi > lo)) {
      throw new AssertionError(String.format(java.util.Locale.ROOT,
          "%s: max |diff| %.3g at %d (%s vs %s) is %.3g of the range [%s, %s], allowed %.1g",
          what, worst, at, actual[at], expected[at], relative, lo, hi, tol));
    }
    return relative;
  }

  @Override
  public void close() throws OrtException {
    session.close();
  }
}
