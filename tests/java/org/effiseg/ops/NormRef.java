package org.effiseg.ops;

import ai.djl.ndarray.NDArray;
import org.effiseg.nativeapi.Activation;

/**
 * Double-precision references for the normalisation family (batch norm, activations,
 * pooling, squeeze-excite gate, drop path), written as plain loops over NHWC data, and the
 * matching PyTorch expressions for the parity tests.
 */
final class NormRef {
  private NormRef() {}

  static double sigmoid(double x) {
    return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
  }

  static double act(Activation a, double x) {
    switch (a) {
      case RELU:
        return x > 0 ? x : 0;
      case SWISH:
        return x * sigmoid(x);
      case SIGMOID:
        return sigmoid(x);
      default:
        return x;
    }
  }

  /** d act / dx at x; ReLU' is [x > 0] as in PyTorch. */
  static double actGrad(Activation a, double x) {
    double s = sigmoid(x);
    double oneMinusS = sigmoid(-x);
    switch (a) {
      case RELU:
        return x > 0 ? 1 : 0;
      case SWISH:
        return s * (1 + x * oneMinusS);
      case SIGMOID:
        return s * oneMinusS;
      default:
        return 1;
    }
  }

  /** The activation as PyTorch ops (swish = x * sigmoid(x), what nn.SiLU computes). */
  static NDArray torchAct(Activation a, NDArray x) {
    switch (a) {
      case RELU:
        return ai.djl.nn.Activation.relu(x);
      case SWISH:
        return x.mul(ai.djl.nn.Activation.sigmoid(x));
      case SIGMOID:
        return ai.djl.nn.Activation.sigmoid(x);
      default:
        return x;
    }
  }

  /** Per-channel statistics of rows x C data: {mean, biased variance, unbiased variance}. */
  static double[][] stats(float[] x, int rows, int c) {
    double[] mean = new double[c];
    double[] var = new double[c];
    double[] unbiased = new double[c];
    for (int r = 0; r < rows; r++) {
      for (int k = 0; k < c; k++) {
        mean[k] += x[r * c + k];
      }
    }
    for (int k = 0; k < c; k++) {
      mean[k] /= rows;
    }
    for (int r = 0; r < rows; r++) {
      for (int k = 0; k < c; k++) {
        double d = x[r * c + k] - mean[k];
        var[k] += d * d;
      }
    }
    for (int k = 0; k < c; k++) {
      unbiased[k] = var[k] / (rows - 1);
      var[k] /= rows;
    }
    return new double[][] {mean, var, unbiased};
  }

  /** y = act(gamma * (x - mean) * invstd + beta) with the given per-channel statistics. */
  static double[] bnForward(
      float[] x, int rows, int c, double[] mean, double[] invstd, float[] gamma, float[] beta,
      Activation a) {
    double[] y = new double[x.length];
    for (int r = 0; r < rows; r++) {
      for (int k = 0; k < c; k++) {
        int i = r * c + k;
        y[i] = act(a, gamma[k] * (x[i] - mean[k]) * invstd[k] + beta[k]);
      }
    }
    return y;
  }

  /**
   * Batch-norm gradients {dx, dgamma, dbeta}. training: through the batch statistics,
   * dx = gamma*invstd/n * (n*g - sum(g) - xhat*sum(g*xhat)) with g = dy * act'(pre);
   * eval: mean and invstd are constants, dx = gamma*invstd*g.
   */
  static double[][] bnBackward(
      float[] x, float[] dy, int rows, int c, double[] mean, double[] invstd, float[] gamma,
      float[] beta, Activation a, boolean training) {
    double[] dx = new double[x.length];
    double[] dgamma = new double[c];
    double[] dbeta = new double[c];
    double[] g = new double[x.length];
    for (int r = 0; r < rows; r++) {
      for (int k = 0; k < c; k++) {
        int i = r * c + k;
        double xhat = (x[i] - mean[k]) * invstd[k];
        g[i] = dy[i] * actGrad(a, gamma[k] * xhat + beta[k]);
        dbeta[k] += g[i];
        dgamma[k] += g[i] * xhat;
      }
    }
    for (int r = 0; r < rows; r++) {
      for (int k = 0; k < c; k++) {
        int i = r * c + k;
        double xhat = (x[i] - mean[k]) * invstd[k];
        dx[i] =
            training
                ? gamma[k] * invstd[k] / rows * (rows * g[i] - dbeta[k] - xhat * dgamma[k])
                : gamma[k] * invstd[k] * g[i];
      }
    }
    return new double[][] {dx, dgamma, dbeta};
  }

  static double maxAbs(double[] a) {
    double m = 0;
    for (double v : a) {
      m = Math.max(m, Math.abs(v));
    }
    return m;
  }

  static double[] toDouble(float[] a) {
    double[] d = new double[a.length];
    for (int i = 0; i < a.length; i++) {
      d[i] = a[i];
    }
    return d;
  }

  /** es::drop_path_uniform (native/src/kernels.h): splitmix64 of seed + golden * (n + 1). */
  static float dropPathUniform(long seed, long sample) {
    long z = seed + 0x9E3779B97F4A7C15L * (sample + 1);
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    z ^= z >>> 31;
    return (float) (z >>> 40) * (1.0f / 16777216.0f);
  }
}
