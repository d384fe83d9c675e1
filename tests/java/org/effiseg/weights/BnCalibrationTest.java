package org.effiseg.weights;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.effiseg.model.EfficientNetClassifier;
import org.effiseg.model.EfficientNetVariant;
import org.effiseg.model.StateDict;
import org.effiseg.model.TensorData;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Tensor;
import org.junit.jupiter.api.Test;

/**
 * Calibration on real Kvasir images with the real imported B0, through the model itself: the
 * eval-mode function is unchanged, afterwards training-mode BN (batch statistics) reproduces the
 * eval output on the calibration batch, and the statistics are those recorded before the model
 * had its batch-norm observer. Small images (96x96) keep it to a few seconds on two cores.
 */
class BnCalibrationTest {
  static final int SIZE = 96;

  static List<Path> kvasir(int n) throws Exception {
    Path dir = Path.of(System.getProperty("effiseg.shared", "../shared"), "data", "kvasir-seg",
        "train", "images");
    try (Stream<Path> s = Files.list(dir)) {
      return s.sorted().limit(n).toList();
    }
  }

  static float maxAbsDiff(float[] a, float[] b) {
    float m = 0;
    for (int i = 0; i < a.length; i++) {
      m = Math.max(m, Math.abs(a[i] - b[i]));
    }
    return m;
  }

  static float maxAbs(float[] a) {
    float m = 0;
    for (float v : a) {
      m = Math.max(m, Math.abs(v));
    }
    return m;
  }

  private static EfficientNetClassifier classifier(Context ctx, StateDict weights) {
    EfficientNetClassifier model = EfficientNetClassifier.create(ctx, EfficientNetVariant.B0);
    model.loadStateDict(weights, true);
    return model;
  }

  private static StateDict calibratedB0(Context ctx, StateDict imported, List<Path> images)
      throws Exception {
    try (EfficientNetClassifier model = classifier(ctx, imported)) {
      BnCalibration.calibrateOnImages(model, images, SIZE, 4);
      return model.stateDict();
    }
  }

  private static float[] batch(List<Path> images) throws Exception {
    float[] batch = new float[images.size() * SIZE * SIZE * 3];
    for (int i = 0; i < images.size(); i++) {
      float[] x = ImageNetInput.resized(ImageNetInput.read(images.get(i)), SIZE, SIZE);
      System.arraycopy(x, 0, batch, i * x.length, x.length);
    }
    return batch;
  }

  @Test
  void calibratedStatisticsMakeTrainModeMatchEvalModeWithoutChangingEvalMode() throws Exception {
    StateDict imported = PretrainedWeights.load(TfjsImporterTest.B0, EfficientNetLayout.of(0), true).weights();
    List<Path> images = kvasir(4);
    try (Context ctx = Context.cpu(0)) {
      StateDict calibrated = calibratedB0(ctx, imported, images);
      // The README's formulas for imported weights: gamma = sqrt(var + eps), beta = b + mean.
      TensorData var = calibrated.get("_blocks.3._bn1.running_var");
      TensorData mean = calibrated.get("_blocks.3._bn1.running_mean");
      float eps = TfjsImporter.BN_EPS;
      assertThat(calibrated.get("_blocks.3._bn1.weight").data()[5])
          .isWithin(1e-5f).of((float) Math.sqrt(var.data()[5] + eps));
      assertThat(calibrated.get("_blocks.3._bn1.bias").data()[5]).isWithin(1e-4f)
          .of(imported.get("_blocks.3._bn1.bias").data()[5] + mean.data()[5]);
      assertThat(maxAbs(var.data())).isGreaterThan(1e-3f); // real statistics, not placeholders

      // Batch-statistics passes move the running statistics (momentum 0.01), so each model
      // runs its eval pass first.
      try (Tensor x = ctx.tensor(batch(images), 4, SIZE, SIZE, 3);
          EfficientNetClassifier before = classifier(ctx, imported);
          EfficientNetClassifier after = classifier(ctx, calibrated);
          Tensor evalBefore = before.headActivationsCopy(x, false);
          Tensor evalAfter = after.headActivationsCopy(x, false);
          Tensor trainAfter = after.headActivationsCopy(x, true);
          Tensor trainBefore = before.headActivationsCopy(x, true)) {
        float[] e0 = evalBefore.read();
        float scale = maxAbs(e0);
        assertThat(maxAbsDiff(e0, evalAfter.read())).isLessThan(1e-4f * scale);
        float trainErr = maxAbsDiff(e0, trainAfter.read());
        float uncalibratedErr = maxAbsDiff(e0, trainBefore.read());
        System.out.printf("BN calibration: |train - eval| / max|eval| = %.2e calibrated, %.2e"
            + " uncalibrated%n", trainErr / scale, uncalibratedErr / scale);
        // At the end the statistics of a 3x3 map over 4 images (n = 36) are normalised with the
        // biased variance in training mode but stored unbiased (PyTorch's running_var): the
        // n/(n-1) factor alone makes ~1.4 % here; at 352x352, batch 8 it is 0.1 %.
        assertThat(trainErr).isLessThan(3e-2f * scale);
        assertThat(uncalibratedErr).isGreaterThan(0.5f * scale);
      }
      // Where n is large (stride 4: 4 x 24 x 24 pixels), train and eval mode agree tightly.
      String probe = "_blocks.3._bn0";
      float[][] seen = new float[2][];
      try (Tensor x = ctx.tensor(batch(images), 4, SIZE, SIZE, 3);
          EfficientNetClassifier after = classifier(ctx, calibrated)) {
        for (int mode = 0; mode < 2; mode++) {
          int m = mode;
          after.observeBatchNorms(x, mode == 1, (bn, y) -> {
            if (bn.equals(probe)) {
              seen[m] = y.read();
            }
          });
        }
      }
      float probeErr = maxAbsDiff(seen[0], seen[1]) / maxAbs(seen[0]);
      System.out.printf("BN calibration: at %s input, |train - eval| / max|eval| = %.2e%n", probe,
          probeErr);
      assertThat(probeErr).isLessThan(2e-3f);
    }
  }

  /**
   * Statistics recorded (L1 norm over the channels, and channels 0-2) from the same calibration
   * when it ran through a second, straight-line EfficientNet forward pass instead of the model:
   * calibrating through the model gives the same numbers.
   */
  private static final Map<String, double[]> RECORDED = Map.ofEntries(
      Map.entry("_bn0.running_mean", new double[] {70.4549796, 0.498219758, 0.0950673521, 0.0241547301}),
      Map.entry("_bn0.running_var", new double[] {488.688526, 5.42146683, 5.81278324, 6.29010820}),
      Map.entry("_bn0.weight", new double[] {85.3650628, 2.32861900, 2.41117883, 2.50820804}),
      Map.entry("_bn0.bias", new double[] {174.406372, -3.20080042, 2.53270030, 2.33264780}),
      Map.entry("_blocks.0._bn1.running_mean", new double[] {51.8661396, -0.00990008842, 2.32771754, -1.71836674}),
      Map.entry("_blocks.0._bn1.running_var", new double[] {165.675743, 2.30908942, 6.47984552, 2.27301598}),
      Map.entry("_blocks.3._bn0.running_mean", new double[] {48.4801514, -0.114605740, -0.202235892, 0.153440893}),
      Map.entry("_blocks.3._bn0.running_var", new double[] {274.740978, 0.00252377009, 1.38537228, 0.0126340995}),
      Map.entry("_blocks.7._bn2.running_mean", new double[] {60.0013581, -0.631266236, 0.116959468, 2.03331161}),
      Map.entry("_blocks.7._bn2.running_var", new double[] {165.889835, 0.540270567, 5.74780512, 3.98783970}),
      Map.entry("_blocks.15._bn2.running_mean", new double[] {341.249062, -1.02116871, -3.42390347, -0.0788186640}),
      Map.entry("_blocks.15._bn2.running_var", new double[] {793.164322, 2.59727407, 2.54536009, 1.52601123}),
      Map.entry("_blocks.15._bn2.weight", new double[] {492.355101, 1.61191630, 1.59573185, 1.23572290}),
      Map.entry("_blocks.15._bn2.bias", new double[] {303.248326, -1.59920239, 1.36774349, -0.404832691}),
      Map.entry("_bn1.running_mean", new double[] {1282.09227, -0.352395445, 0.758355141, 2.15392065}),
      Map.entry("_bn1.running_var", new double[] {2651.08573, 2.57685161, 0.834057689, 5.26418924}),
      Map.entry("_bn1.weight", new double[] {1784.75401, 1.60556889, 0.913814902, 2.29460001}),
      Map.entry("_bn1.bias", new double[] {2127.69787, -2.64720511, -1.59010720, 0.0785429329}));

  @Test
  void calibrationThroughTheModelGivesTheRecordedStatistics() throws Exception {
    StateDict imported = PretrainedWeights.load(TfjsImporterTest.B0, EfficientNetLayout.of(0), true).weights();
    try (Context ctx = Context.cpu(0)) {
      StateDict calibrated = calibratedB0(ctx, imported, kvasir(4));
      for (Map.Entry<String, double[]> e : RECORDED.entrySet()) {
        float[] v = calibrated.get(e.getKey()).data();
        double l1 = 0;
        for (float f : v) {
          l1 += Math.abs(f);
        }
        double[] r = e.getValue();
        assertWithMessage("%s L1", e.getKey()).that(l1).isWithin(1e-4 * r[0]).of(r[0]);
        for (int c = 0; c < 3; c++) {
          assertWithMessage("%s[%s]", e.getKey(), c).that((double) v[c])
              .isWithin(1e-4 * Math.max(1, Math.abs(r[1 + c]))).of(r[1 + c]);
        }
      }
    }
  }
}
