package org.effiseg.export;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.TensorInfo;
import java.util.Map;
import org.effiseg.model.EffiSegNet;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Tensor;
import org.effiseg.testing.OrtModel;
import org.effiseg.testing.Rand;
import org.effiseg.train.TrainConfig;
import org.effiseg.weights.Checkpoint;
import org.effiseg.weights.CheckpointModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Exported models in ONNX Runtime (every graph optimisation on) against effiseg's own eval-mode
 * forward pass on the same random weights — BN statistics and biases random too, so folding
 * matters — and the same images: max |logit difference| within 1e-4 of the logits' range.
 */
class OnnxExportParityTest {
  private static final double TOLERANCE = 1e-4;

  /** effiseg's logits [n,1,h,w] (NHWC with one channel is the same order) for NHWC images. */
  static float[] effisegLogits(Checkpoint c, float[] nhwc, int n, int size) {
    TrainConfig config = TrainConfig.fromJson(c.configJson());
    try (Context ctx = Context.cpu(2);
        EffiSegNet net = EffiSegNet.create(ctx, config.modelConfig());
        Tensor x = ctx.tensor(nhwc, n, size, size, 3)) {
      net.loadStateDict(c.model(), true);
      try (Tensor y = net.forward(x, false)) {
        net.closeAuxLogits();
        return y.read();
      }
    }
  }

  /** Exports, runs {@code n} random images through ORT and effiseg, and compares. */
  private static double assertParity(Checkpoint c, OnnxExport.Options options, int n, int size) throws Exception {
    OnnxExport.Exported e = OnnxExport.build(c, CheckpointModel.of(c, java.nio.file.Path.of("test.safetensors")), "test", options);
    float[] images = new Rand(n * 31L + size).normal(n * size * size * 3, 1.0);
    try (OrtModel ort = new OrtModel(e.model().toByteArray(), 2)) {
      float[] onnx = ort.run(OrtModel.nchw(images, n, size, size, 3), n, 3, size, size);
      return OrtModel.assertWithinRange(c.variant() + " " + size + " batch " + n, onnx,
          effisegLogits(c, images, n, size), TOLERANCE);
    }
  }

  @ParameterizedTest(name = "{0} at {1}x{1}")
  @CsvSource({"b0,64", "b1,64", "b2,64", "b3,64", "b4,64", "b5,32", "b6,32", "b7,32"})
  void everyVariantMatchesEffiseg(String variant, int size) throws Exception {
    assertParity(RandomCheckpoints.of(RandomCheckpoints.config(variant, size), 5), OnnxExport.Options.defaults(), 2, size);
  }

  /**
   * 76 = 2·38: odd maps further down (19, 5, 3) give asymmetric SAME pads, and the decoder
   * upsamples by 7.6, 15.2, 25.3: non-integer ratios. One dynamic-batch model takes 1 and 3.
   */
  @Test
  void oneDynamicBatchModelRunsOneAndThreeImagesAtAnOddSize() throws Exception {
    Checkpoint c = RandomCheckpoints.of(RandomCheckpoints.config("b0", 0), 9);
    OnnxExport.Exported e = OnnxExport.build(c, CheckpointModel.of(c, java.nio.file.Path.of("test.safetensors")), "test", new OnnxExport.Options(76, 0, 17));
    try (OrtModel ort = new OrtModel(e.model().toByteArray(), 2)) {
      for (int n : new int[] {1, 3}) {
        float[] images = new Rand(n).normal(n * 76 * 76 * 3, 1.0);
        float[] onnx = ort.run(OrtModel.nchw(images, n, 76, 76, 3), n, 3, 76, 76);
        OrtModel.assertWithinRange("batch " + n, onnx, effisegLogits(c, images, n, 76), TOLERANCE);
      }
    }
  }

  @Test
  void deepSupervisionCheckpointExportsTheMainOutputOnly() throws Exception {
    TrainConfig config = RandomCheckpoints.config("b0", 64);
    config.apply(Map.of("deep_supervision", true), "test");
    Checkpoint c = RandomCheckpoints.of(config, 4);
    assertThat(c.model().contains("conv7.weight")).isTrue();
    assertParity(c, OnnxExport.Options.defaults(), 1, 64);
  }

  @Test
  void everyOpsetFromThirteenLoadsAndAgreesWithAFixedBatch() throws Exception {
    Checkpoint c = RandomCheckpoints.of(RandomCheckpoints.config("b0", 32), 2);
    for (int opset = OnnxExport.MIN_OPSET; opset <= OnnxExport.MAX_OPSET; opset++) {
      assertParity(c, new OnnxExport.Options(0, 2, opset), 2, 32);
    }
  }

  @Test
  void inputOutputAndMetadataFollowTheContract() throws Exception {
    TrainConfig config = RandomCheckpoints.config("b0", 64);
    config.apply(Map.of("threshold_logit", 0.5), "test");
    Checkpoint c = RandomCheckpoints.of(config, 1);
    OnnxExport.Exported e = OnnxExport.build(c, CheckpointModel.of(c, java.nio.file.Path.of("test.safetensors")), "ab12", OnnxExport.Options.defaults());
    try (OrtModel ort = new OrtModel(e.model().toByteArray(), 1)) {
      NodeInfo in = ort.session().getInputInfo().get("image");
      NodeInfo out = ort.session().getOutputInfo().get("logits");
      assertThat(ort.session().getInputInfo()).hasSize(1);
      assertThat(ort.session().getOutputInfo()).hasSize(1);
      assertThat(((TensorInfo) in.getInfo()).getShape()).isEqualTo(new long[] {-1, 3, 64, 64});
      assertThat(((TensorInfo) out.getInfo()).getShape()).isEqualTo(new long[] {-1, 1, 64, 64});
      Map<String, String> meta = ort.session().getMetadata().getCustomMetadata();
      assertThat(meta).containsExactly("variant", "b0", "image_size", "64", "mean", "0.485,0.456,0.406",
          "std", "0.229,0.224,0.225", "threshold_logit", "0.5", "preset", "paper",
          "effiseg_version", OnnxExport.version(), "checkpoint_sha256", "ab12");
      assertThat(ort.session().getMetadata().getProducerName()).isEqualTo("effiseg");
    }
    for (var node : e.model().getGraph().getNodeList()) {
      assertThat(node.getDomain()).isEmpty();
      assertThat(node.getOpType()).isIn(java.util.List.of("Conv", "Sigmoid", "Mul", "Add", "Relu",
          "GlobalAveragePool", "Resize", "Concat", "Slice", "Shape"));
    }
  }

  /** 110 → 4×4 last map: effiseg's PyTorch-style rule reads other rows than Resize: refused. */
  @Test
  void sizesWhereResizeWouldReadOtherRowsAreRefused() {
    Checkpoint c = RandomCheckpoints.of(RandomCheckpoints.config("b0", 0), 1);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> OnnxExport.build(c, CheckpointModel.of(c, java.nio.file.Path.of("test.safetensors")), "test", new OnnxExport.Options(110, 0, 17)));
    assertThat(e).hasMessageThat().startsWith("image size 110 cannot be exported: effiseg's nearest upsampling from");
  }
}
