package org.effiseg.weights;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.LinkedHashMap;
import java.util.Map;
import org.effiseg.model.BatchNormObserver;
import org.effiseg.model.EffiSegNet;
import org.effiseg.model.EfficientNetClassifier;
import org.effiseg.model.StateDict;
import org.effiseg.model.TensorData;
import org.effiseg.nativeapi.Activation;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Ops;
import org.effiseg.nativeapi.Tensor;

/**
 * Calibrates the encoder's BatchNorm running statistics on real images without changing what the
 * network computes in eval mode.
 *
 * <p>Why: weights imported from a BN-folded graph (TF.js) carry placeholder statistics (mean 0,
 * var 1 − ε, see {@link TfjsImporter}). Eval mode is exact with them, but training mode normalises
 * each conv output W'x by its batch statistics, which are nowhere near 0/1, so fine-tuning would
 * start from a broken network.
 *
 * <p>How: one pass of the model itself over the images in <b>eval</b> mode (so every layer sees
 * exactly the inputs the pretrained network produces; {@link BatchNormObserver}), recording each
 * BN input's per-channel mean m' and variance v'
 * over all images and pixels (unbiased, PyTorch's running-variance convention). Each BN (γ, β, m,
 * v) then becomes (γ', β', m', v') with γ' = γ·√(v'+ε)/√(v+ε) and β' = β + γ·(m'−m)/√(v+ε), which
 * leaves γ'(y−m')/√(v'+ε)+β' = γ(y−m)/√(v+ε)+β, the eval function, unchanged. For imported weights
 * (γ = 1, m = 0, v + ε = 1) that is the README's γ' = √(v'+ε), β' = b + m'. In training mode the
 * batch statistics are then close to the running ones, so train- and eval-mode outputs agree.
 *
 * <p>A single train-mode pass with momentum 1 would not do this: every layer after the first would
 * see inputs normalised with the placeholder γ/β, and record statistics of a different network.
 */
public final class BnCalibration {
  private BnCalibration() {}

  /** Per-BN running sums over the calibration images. */
  private static final class Moments {
    final double[] sum;
    final double[] sumSq;
    long count;

    Moments(int channels) {
      sum = new double[channels];
      sumSq = new double[channels];
    }
  }

  /** One eval-mode pass of a model over a batch that shows each batch norm's input. */
  @FunctionalInterface
  private interface ObservedPass {
    void run(Tensor images, BatchNormObserver observer);
  }

  /**
   * Calibrates every encoder batch norm of {@code model} on {@code batches}, in place: the model's
   * eval-mode function stays what it was. Load the pretrained encoder first.
   *
   * @param batches normalised images, NHWC [N, H, W, 3], at the training resolution
   */
  public static void calibrate(EffiSegNet model, Iterable<TensorData> batches) {
    StateDict calibrated = calibrated(model.context(), model::observeEncoderBatchNorms,
        model.stateDict(), batches);
    model.loadStateDict(calibrated, false);
  }

  /** As {@link #calibrate(EffiSegNet, Iterable)}, for every batch norm of a classifier (head included). */
  public static void calibrate(EfficientNetClassifier model, Iterable<TensorData> batches) {
    StateDict calibrated = calibrated(model.context(),
        (images, observer) -> model.observeBatchNorms(images, false, observer), model.stateDict(),
        batches);
    model.loadStateDict(calibrated, false);
  }

  /**
   * {@link #calibrate(EffiSegNet, Iterable)} on image files: each is resized (whole image,
   * antialiased bilinear) to size×size, normalised with the ImageNet mean/std, and fed in batches
   * of {@code batchSize}.
   */
  public static void calibrateOnImages(EffiSegNet model, List<Path> images, int size, int batchSize)
      throws IOException {
    calibrate(model, batches(images, size, batchSize));
  }

  /** {@link #calibrate(EfficientNetClassifier, Iterable)} on image files, as {@link #calibrateOnImages(EffiSegNet, List, int, int)}. */
  public static void calibrateOnImages(EfficientNetClassifier model, List<Path> images, int size,
      int batchSize) throws IOException {
    calibrate(model, batches(images, size, batchSize));
  }

  private static List<TensorData> batches(List<Path> images, int size, int batchSize)
      throws IOException {
    if (images.isEmpty() || batchSize < 1) {
      throw new IllegalArgumentException("BN calibration needs images and a batch size >= 1");
    }
    List<TensorData> batches = new ArrayList<>();
    int per = size * size * 3;
    for (int start = 0; start < images.size(); start += batchSize) {
      int n = Math.min(batchSize, images.size() - start);
      float[] data = new float[n * per];
      for (int i = 0; i < n; i++) {
        float[] x = ImageNetInput.resized(ImageNetInput.read(images.get(start + i)), size, size);
        System.arraycopy(x, 0, data, i * per, per);
      }
      batches.add(new TensorData(new long[] {n, size, size, 3}, data));
    }
    return batches;
  }

  /** The observed batch norms' calibrated (γ, β, mean, var), from {@code weights}' current ones. */
  private static StateDict calibrated(Context ctx, ObservedPass pass, StateDict weights,
      Iterable<TensorData> batches) {
    Map<String, Moments> moments = new LinkedHashMap<>();
    for (TensorData batch : batches) {
      try (Tensor images = ctx.tensor(batch.data(), batch.shape())) {
        pass.run(images, (bn, y) -> accumulate(ctx, bn, y, moments));
      }
    }
    if (moments.isEmpty()) {
      throw new IllegalArgumentException("BN calibration needs at least one batch of images");
    }
    StateDict out = new StateDict();
    float eps = TfjsImporter.BN_EPS;
    for (Map.Entry<String, Moments> e : moments.entrySet()) {
      String p = e.getKey();
      Moments m = e.getValue();
      float[] gamma = weights.get(p + ".weight").data();
      float[] beta = weights.get(p + ".bias").data();
      float[] mean = weights.get(p + ".running_mean").data();
      float[] var = weights.get(p + ".running_var").data();
      int c = gamma.length;
      float[] g2 = new float[c];
      float[] b2 = new float[c];
      float[] m2 = new float[c];
      float[] v2 = new float[c];
      for (int i = 0; i < c; i++) {
        double newMean = m.sum[i] / m.count;
        double biased = Math.max(m.sumSq[i] / m.count - newMean * newMean, 0.0);
        double newVar = m.count > 1 ? biased * m.count / (m.count - 1) : biased;
        double oldStd = Math.sqrt((double) var[i] + eps);
        g2[i] = (float) (gamma[i] * Math.sqrt(newVar + eps) / oldStd);
        b2[i] = (float) (beta[i] + gamma[i] * (newMean - mean[i]) / oldStd);
        m2[i] = (float) newMean;
        v2[i] = (float) newVar;
      }
      long[] shape = {c};
      out.put(p + ".weight", new TensorData(shape, g2));
      out.put(p + ".bias", new TensorData(shape.clone(), b2));
      out.put(p + ".running_mean", new TensorData(shape.clone(), m2));
      out.put(p + ".running_var", new TensorData(shape.clone(), v2));
    }
    return out;
  }

  /**
   * Adds one batch's per-channel mean and variance of {@code y} [N,H,W,C], computed by the BN op
   * itself (training mode with momentum 1 writes the batch statistics into the running buffers).
   */
  private static void accumulate(Context ctx, String bn, Tensor y, Map<String, Moments> moments) {
    int c = (int) y.dim(3);
    long n = y.dim(0) * y.dim(1) * y.dim(2);
    float[] ones = new float[c];
    Arrays.fill(ones, 1f);
    try (Tensor gamma = ctx.tensor(ones, c);
        Tensor beta = ctx.tensor(c);
        Tensor mean = ctx.tensor(c);
        Tensor var = ctx.tensor(c);
        Tensor saveMean = ctx.tensor(c);
        Tensor saveInvstd = ctx.tensor(c);
        Tensor scratch = ctx.tensor(y.shape())) {
      Ops.batchnormForward(ctx, y, gamma, beta, mean, var, scratch, saveMean, saveInvstd, true,
          1f, TfjsImporter.BN_EPS, Activation.NONE);
      float[] mu = mean.read();
      float[] unbiased = var.read();
      Moments m = moments.computeIfAbsent(bn, k -> new Moments(c));
      for (int i = 0; i < c; i++) {
        double biased = n > 1 ? (double) unbiased[i] * (n - 1) / n : unbiased[i];
        m.sum[i] += n * (double) mu[i];
        m.sumSq[i] += n * (biased + (double) mu[i] * mu[i]);
      }
      m.count += n;
    }
  }
}
