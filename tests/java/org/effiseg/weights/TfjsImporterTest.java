package org.effiseg.weights;

import static com.google.common.truth.Truth.assertThat;

import com.google.gson.JsonParser;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.effiseg.model.StateDict;
import org.effiseg.model.TensorData;
import org.junit.jupiter.api.Test;

/** The importer on the real shared ImageNet B0 (../shared/weights/efficientnet-b0-tfjs). */
class TfjsImporterTest {
  static final Path B0 =
      Path.of(System.getProperty("effiseg.shared", "../shared"), "weights", "efficientnet-b0-tfjs");
  private static final String P = "StatefulPartitionedCall/model/";

  @Test
  void importsTheSharedB0WithEveryTensorInPlace() throws Exception {
    PretrainedWeights.Imported imp = PretrainedWeights.load(B0, null, true);
    assertThat(imp.layout().variant()).isEqualTo(0);
    StateDict sd = imp.weights();
    Map<String, long[]> expected = EfficientNetLayout.of(0).canonicalShapes(true);
    assertThat(sd.names()).containsExactlyElementsIn(expected.keySet()).inOrder();
    assertThat(sd.size()).isEqualTo(311); // 1 + 4 + 16 blocks + head conv, BN, FC

    Path json = B0.resolve("model.json");
    Map<String, TensorData> raw = TfjsImporter.readWeights(json,
        JsonParser.parseString(Files.readString(json)).getAsJsonObject());
    assertThat(raw).hasSize(178 - 11); // the manifest minus its 11 int32 constants

    // stem conv HWIO [3,3,3,32] -> OIHW [32,3,3,3]: w[o][i][y][x] = tf[y][x][i][o]
    TensorData tfStem = raw.get(P + "stem_conv2d/Conv2D_weights");
    TensorData stem = sd.get("_conv_stem.weight");
    for (int[] c : new int[][] {{0, 0, 0, 0}, {31, 2, 1, 2}, {7, 1, 2, 0}}) {
      int o = c[0], i = c[1], y = c[2], x = c[3];
      assertThat(stem.data()[((o * 3 + i) * 3 + y) * 3 + x])
          .isEqualTo(tfStem.data()[((y * 3 + x) * 3 + i) * 32 + o]);
    }
    // Stack 5 block 3 is flat block 14 (1 + 2 + 2 + 3 + 3 + 3); its depthwise is [1152,1,5,5].
    TensorData tfDw = raw.get(P + "stack_5/block_3/depthwise_conv2d/depthwise_weights");
    TensorData dw = sd.get("_blocks.14._depthwise_conv.weight");
    assertThat(dw.shape()).asList().containsExactly(1152L, 1L, 5L, 5L).inOrder();
    assertThat(dw.data()[(1000 * 5 + 3) * 5 + 4]).isEqualTo(tfDw.data()[(3 * 5 + 4) * 1152 + 1000]);
    assertThat(sd.get("_blocks.14._bn1.bias").data())
        .isEqualTo(raw.get(P + "stack_5/block_3/depthwise_conv2d/depthwise_bn_offset").data());
    // Squeeze-excite of stack 1 block 0 (flat 1) comes through the graph: input/_31.._34.
    TensorData seReduce = sd.get("_blocks.1._se_reduce.weight");
    assertThat(seReduce.shape()).asList().containsExactly(4L, 96L, 1L, 1L).inOrder();
    TensorData tfSe = raw.get("Func/StatefulPartitionedCall/input/_31"); // [1,1,96,4]
    assertThat(seReduce.data()[3 * 96 + 50]).isEqualTo(tfSe.data()[50 * 4 + 3]);
    assertThat(sd.get("_blocks.1._se_expand.bias").data())
        .isEqualTo(raw.get("Func/StatefulPartitionedCall/input/_34").data());
    // Classifier dense [1280,1000] -> linear [1000,1280].
    TensorData tfFc = raw.get("Func/StatefulPartitionedCall/input/_311");
    TensorData fc = sd.get("_fc.weight");
    assertThat(fc.data()[817 * 1280 + 5]).isEqualTo(tfFc.data()[5 * 1000 + 817]);
    assertThat(sd.get("_fc.bias").data())
        .isEqualTo(raw.get("Func/StatefulPartitionedCall/input/_312").data());
    // Stage 0 has no expansion.
    assertThat(sd.contains("_blocks.0._expand_conv.weight")).isFalse();
    assertThat(sd.contains("_blocks.1._expand_conv.weight")).isTrue();
  }

  @Test
  void unfoldedBatchNormIsExactlyTheIdentityPlusBiasInEvalMode() throws Exception {
    StateDict sd = TfjsImporter.read(B0.resolve("model.json"));
    float eps = TfjsImporter.BN_EPS;
    TensorData var = sd.get("_blocks.7._bn2.running_var");
    assertThat(var.data()[0] + eps).isEqualTo(1f); // float32: (1 - eps) + eps rounds to 1
    assertThat((float) (1f / Math.sqrt(var.data()[0] + eps))).isEqualTo(1f);
    assertThat(sd.get("_blocks.7._bn2.weight").data()[3]).isEqualTo(1f);
    assertThat(sd.get("_blocks.7._bn2.running_mean").data()[3]).isEqualTo(0f);
  }
}
