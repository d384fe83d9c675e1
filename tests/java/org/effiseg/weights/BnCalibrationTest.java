package org.effiseg.weights;

import static com.google.common.truth.Truth.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.effiseg.model.EfficientNetClassifier;
import org.effiseg.model.EfficientNetVariant;
import org.effiseg.model.StateDict;
import org.effiseg.model.TensorData;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Tensor;
import org.junit.jupiter.api.Test;

/**
 * Calibration on real Kvasir images with the real imported B0: the eval-mode function is
 * unchanged, and afterwards training-mode BN (batch statistics) reproduces the eval output on
 * the calibration batch. Small images (96x96) keep it to a few seconds on two cores.
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

  @Test
  void calibratedStatisticsMakeTrainModeMatchEvalModeWithoutChangingEvalMode() throws Exception {
    EfficientNetLayout b0 = EfficientNetLayout.of(0);
    StateDict imported = PretrainedWeights.load(TfjsImporterTest.B0, b0, true).weights();
    List<Path> images = kvasir(4);
    try (Context ctx = Context.cpu(0)) {
      StateDict calibrated =
          BnCalibration.calibrateOnImages(ctx, imported, "", b0, images, SIZE, 4);
      // The README's formulas for imported weights: gamma = sqrt(var + eps), beta = b + mean.
      TensorData var = calibrated.get("_blocks.3._bn1.running_var");
      TensorData mean = calibrated.get("_blocks.3._bn1.running_mean");
      float eps = TfjsImporter.BN_EPS;
      assertThat(calibrated.get("_blocks.3._bn1.weight").data()[5])
          .isWithin(1e-5f).of((float) Math.sqrt(var.data()[5] + eps));
      assertThat(calibrated.get("_blocks.3._bn1.bias").data()[5]).isWithin(1e-4f)
          .of(imported.get("_blocks.3._bn1.bias").data()[5] + mean.data()[5]);
      assertThat(maxAbs(var.data())).isGreaterThan(1e-3f); // real statistics, not placeholders

      float[] batch = new float[4 * SIZE * SIZE * 3];
      for (int i = 0; i < 4; i++) {
        float[] x = ImageNetInput.resized(ImageNetInput.read(images.get(i)), SIZE, SIZE);
        System.arraycopy(x, 0, batch, i * x.length, x.length);
      }
      try (Tensor x = ctx.tensor(batch, 4, SIZE, SIZE, 3);
          ReferenceEfficientNet before = new ReferenceEfficientNet(ctx, imported, b0);
          ReferenceEfficientNet after = new ReferenceEfficientNet(ctx, calibrated, b0);
          Tensor evalBefore = before.headActivations(x, false, null);
          Tensor evalAfter = after.headActivations(x, false, null);
          Tensor trainAfter = after.headActivations(x, true, null);
          Tensor trainBefore = before.headActivations(x, true, null)) {
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
      try (Tensor x = ctx.tensor(batch, 4, SIZE, SIZE, 3);
          ReferenceEfficientNet after = new ReferenceEfficientNet(ctx, calibrated, b0)) {
        for (int mode = 0; mode < 2; mode++) {
          int m = mode;
          try (Tensor f = after.features(x, mode == 1,
              (bn, y) -> {
                if (bn.equals(probe)) {
                  seen[m] = y.read();
                }
              })) {
            // only the probe is wanted
          }
        }
      }
      float probeErr = maxAbsDiff(seen[0], seen[1]) / maxAbs(seen[0]);
      System.out.printf("BN calibration: at %s input, |train - eval| / max|eval| = %.2e%n", probe,
          probeErr);
      assertThat(probeErr).isLessThan(2e-3f);
    }
  }

  @Test
  void theModelClassifierComputesWhatTheReferenceForwardDoes() throws Exception {
    EfficientNetLayout b0 = EfficientNetLayout.of(0);
    StateDict w = PretrainedWeights.load(TfjsImporterTest.B0, b0, true).weights();
    float[] img = ImageNetInput.resized(ImageNetInput.read(kvasir(1).get(0)), SIZE, SIZE);
    try (Context ctx = Context.cpu(0);
        Tensor x = ctx.tensor(img, 1, SIZE, SIZE, 3);
        ReferenceEfficientNet ref = new ReferenceEfficientNet(ctx, w, b0);
        EfficientNetClassifier model = EfficientNetClassifier.create(ctx, EfficientNetVariant.B0)) {
      model.loadStateDict(w, true);
      float[] expected = ref.logits(x);
      try (Tensor out = model.logits(x)) {
        float[] got = out.read();
        assertThat(maxAbsDiff(got, expected)).isLessThan(1e-3f * Math.max(1f, maxAbs(expected)));
      }
    }
  }
}
