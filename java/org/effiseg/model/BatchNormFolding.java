package org.effiseg.model;

/**
 * Eval-mode batch norm as arithmetic on weights: {@code bn(x) = gamma * (x - mean) / sqrt(var +
 * eps) + beta} is the per-channel affine map {@code x * scale + shift}, and a convolution followed
 * by it is one convolution with each output channel's weights multiplied by {@code scale} and the
 * bias {@code (bias - mean) * scale + beta}. The one place this formula is written; computed in
 * double and rounded once to float.
 */
public final class BatchNormFolding {
  private BatchNormFolding() {}

  /** {@code y = x * scale[c] + shift[c]}, eval-mode batch norm of one channel each. */
  public record Affine(float[] scale, float[] shift) {}

  /** The affine map of a batch norm with these parameters and running statistics. */
  public static Affine affine(float[] gamma, float[] beta, float[] runningMean, float[] runningVar, double eps) {
    int c = gamma.length;
    if (beta.length != c || runningMean.length != c || runningVar.length != c) {
      throw new IllegalArgumentException("batch norm vectors differ in length: weight " + c + ", bias "
          + beta.length + ", running_mean " + runningMean.length + ", running_var " + runningVar.length);
    }
    float[] scale = new float[c];
    float[] shift = new float[c];
    for (int i = 0; i < c; i++) {
      double s = gamma[i] / Math.sqrt((double) runningVar[i] + eps);
      scale[i] = (float) s;
      shift[i] = (float) (beta[i] - runningMean[i] * s);
    }
    return new Affine(scale, shift);
  }

  /** The affine map of the batch norm named {@code prefix} ({@code .weight}, {@code .bias}, running statistics) in {@code sd}. */
  public static Affine affine(StateDict sd, String prefix, double eps) {
    return affine(vector(sd, prefix + ".weight"), vector(sd, prefix + ".bias"),
        vector(sd, prefix + ".running_mean"), vector(sd, prefix + ".running_var"), eps);
  }

  /**
   * Convolution weights with the output channel outermost (PyTorch's [Cout, Cin/groups, KH,
   * KW]) followed by {@code bn}: each output channel's block multiplied by its scale.
   */
  public static float[] foldWeights(float[] weights, Affine bn) {
    int c = bn.scale().length;
    if (weights.length % c != 0) {
      throw new IllegalArgumentException(weights.length + " weights do not split into " + c + " output channels");
    }
    int per = weights.length / c;
    float[] out = new float[weights.length];
    for (int o = 0; o < c; o++) {
      double s = bn.scale()[o];
      for (int i = o * per; i < (o + 1) * per; i++) {
        out[i] = (float) (weights[i] * s);
      }
    }
    return out;
  }

  /**
   * As {@link #foldWeights}, for weights with the output channel innermost (the native
   * [KH, KW, Cin/groups, Cout]).
   */
  public static float[] foldWeightsOutputInnermost(float[] weights, Affine bn) {
    int c = bn.scale().length;
    if (weights.length % c != 0) {
      throw new IllegalArgumentException(weights.length + " weights do not split into " + c + " output channels");
    }
    float[] out = new float[weights.length];
    for (int i = 0; i < weights.length; i++) {
      out[i] = (float) (weights[i] * (double) bn.scale()[i % c]);
    }
    return out;
  }

  /** The folded convolution's bias: {@code bias * scale + shift} ({@code bias} may be null: none). */
  public static float[] foldBias(float[] bias, Affine bn) {
    int c = bn.scale().length;
    if (bias != null && bias.length != c) {
      throw new IllegalArgumentException("bias has " + bias.length + " values for " + c + " channels");
    }
    float[] out = new float[c];
    for (int o = 0; o < c; o++) {
      out[o] = (float) ((bias == null ? 0.0 : (double) bias[o] * bn.scale()[o]) + bn.shift()[o]);
    }
    return out;
  }

  private static float[] vector(StateDict sd, String name) {
    TensorData t = sd.get(name);
    if (t == null) {
      throw new IllegalArgumentException("the state dict has no " + name);
    }
    return t.data();
  }
}
