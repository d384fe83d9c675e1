package org.effiseg.model;

import static com.google.common.truth.Truth.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.effiseg.cli.Main;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Parameter counts against the reference EffiSegNetBN (shape arithmetic, no kernels). */
class ParameterCountTest {

  /** Encoder parameters, with the unused classifier head of the reference, and the decoder's. */
  @ParameterizedTest(name = "{0}")
  @CsvSource({"B0, 3595388, 4007548, 149312", "B4, 16742216, 17548616, 209216"})
  void countsMatchReference(EfficientNetVariant v, long encoder, long withHead, long decoder) {
    ParameterLayout l = EffiSegNet.layout(EffiSegNetConfig.of(v));
    long counted = l.trainableCount("encoder.");
    assertThat(counted).isEqualTo(encoder);
    assertThat(counted + EffiSegNet.unusedReferenceHeadCount(v)).isEqualTo(withHead);
    assertThat(l.trainableSize() - counted).isEqualTo(decoder);
  }

  @Test
  void featureChannelsMatchMonai() {
    int[][] expected = {
      {16, 24, 40, 112, 320}, {16, 24, 40, 112, 320}, {16, 24, 48, 120, 352},
      {24, 32, 48, 136, 384}, {24, 32, 56, 160, 448}, {24, 40, 64, 176, 512},
      {32, 40, 72, 200, 576}, {32, 48, 80, 224, 640},
    };
    for (EfficientNetVariant v : EfficientNetVariant.values()) {
      assertThat(v.featureChannels()).isEqualTo(expected[v.ordinal()]);
    }
  }

  @Test
  void scalingRules() {
    assertThat(EfficientNetVariant.B0.numBlocks()).isEqualTo(16);
    assertThat(EfficientNetVariant.B4.numBlocks()).isEqualTo(32);
    assertThat(EfficientNetVariant.B7.numBlocks()).isEqualTo(55);
    assertThat(EfficientNetVariant.B4.stemChannels()).isEqualTo(48);
    assertThat(EfficientNetVariant.B4.headChannels()).isEqualTo(1792);
    assertThat(EfficientNetVariant.B7.headChannels()).isEqualTo(2560);
    assertThat(EfficientNetVariant.parse("efficientnet-b3")).isEqualTo(EfficientNetVariant.B3);
  }

  @Test
  void stateDictNamesFollowTheReference() {
    ParameterLayout l = EffiSegNet.layout(EffiSegNetConfig.of(EfficientNetVariant.B0));
    assertThat(l.entries().get(0).name()).isEqualTo("encoder._conv_stem.weight");
    for (String n :
        new String[] {
          "encoder._bn0.running_var",
          "encoder._blocks.0._depthwise_conv.weight",
          "encoder._blocks.15._se_expand.bias",
          "encoder._blocks.1._expand_conv.weight",
          "conv5.weight",
          "bn6.running_mean",
          "ghost1.primary_conv.0.weight",
          "ghost2.cheap_operation.2.bias",
          "conv6.weight"
        }) {
      assertThat(l.contains(n)).isTrue();
    }
    assertThat(l.contains("encoder._blocks.0._expand_conv.weight")).isFalse();
    assertThat(l.contains("conv6.bias")).isFalse();
    assertThat(l.entry("encoder._blocks.1._se_reduce.weight").torchShape())
        .isEqualTo(new long[] {4, 96, 1, 1});
  }

  @Test
  void cliPrintsCounts() {
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    PrintStream old = System.out;
    System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
    int rc;
    try {
      rc = Main.commandLine().execute("model", "--variant", "b4", "--json");
    } finally {
      System.setOut(old);
    }
    assertThat(rc).isEqualTo(0);
    String out = buf.toString(StandardCharsets.UTF_8);
    assertThat(out).contains("\"encoder\": 16742216");
    assertThat(out).contains("\"reference_encoder\": 17548616");
    assertThat(out).contains("\"decoder\": 209216");
  }
}
