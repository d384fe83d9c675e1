package org.effiseg.weights;

import static com.google.common.truth.Truth.assertThat;

import java.util.List;
import org.effiseg.model.EfficientNetClassifier;
import org.effiseg.model.StateDict;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Tensor;
import org.effiseg.testing.TorchOracle;
import org.junit.jupiter.api.Test;

/**
 * The imported TF.js B0 run through PyTorch (not effiseg's kernels) labels the sample photos
 * correctly: checks the importer (layouts, SE/classifier mapping through the graph, block
 * order, BN un-folding) and the classify preprocessing independently of the native core.
 */
class TorchImportCheckTest {
  // Also compares the model's classifier on effiseg's kernels with PyTorch on the same weights.
  @Test
  void pytorchWithTheImportedWeightsRecognisesTheSamplePhotos() throws Exception {
    EfficientNetLayout b0 = EfficientNetLayout.of(0);
    StateDict w = PretrainedWeights.load(TfjsImporterTest.B0, b0, true).weights();
    ImageNetLabels labels = ImageNetLabels.bundled();
    try (TorchOracle torch = new TorchOracle()) {
      TorchEfficientNet net = new TorchEfficientNet(torch, w, b0);
      for (String[] c : new String[][] {{"car.jpg", "sports car"}, {"panda.jpg", "giant panda"}}) {
        float[] x = ImageNetInput.centreCrop(
            ImageNetInput.read(TfjsImporterTest.B0.resolve(c[0])), 224);
        List<ImageNetLabels.ClassScore> top = labels.top5(net.logits(x, 1, 224, 224));
        System.out.println(c[0] + " (PyTorch): " + top);
        assertThat(top.get(0).label()).isEqualTo(c[1]);
        assertThat(top.get(0).probability()).isGreaterThan(0.5);
        // The model on effiseg's kernels computes the same logits.
        float[] expected = net.logits(x, 1, 224, 224);
        try (Context ctx = Context.cpu(0);
            EfficientNetClassifier model =
                EfficientNetClassifier.create(ctx, b0.efficientNetVariant());
            Tensor in = ctx.tensor(x, 1, 224, 224, 3)) {
          model.loadStateDict(w, true);
          try (Tensor out = model.logits(in)) {
            float[] got = out.read();
            float diff = BnCalibrationTest.maxAbsDiff(got, expected);
            System.out.printf("%s: max |effiseg - PyTorch| logit difference %.2e"
                + " (max |logit| %.1f)%n", c[0], diff, BnCalibrationTest.maxAbs(expected));
            assertThat(diff).isLessThan(2e-3f * BnCalibrationTest.maxAbs(expected));
          }
        }
      }
    }
  }
}
