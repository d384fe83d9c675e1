package org.effiseg.weights;

import static com.google.common.truth.Truth.assertThat;

import java.util.Map;
import org.effiseg.model.EffiSegNet;
import org.effiseg.model.EffiSegNetConfig;
import org.effiseg.model.EfficientNetClassifier;
import org.effiseg.model.EfficientNetVariant;
import org.effiseg.model.StateDict;
import org.effiseg.nativeapi.Context;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The importers' names and shapes are exactly the model's: imported weights load strictly. */
class ModelCompatibilityTest {
  @ParameterizedTest
  @EnumSource(value = EfficientNetVariant.class, names = {"B0", "B3"})
  void classifierAndEffiSegNetUseTheCanonicalNamesAndShapes(EfficientNetVariant v) {
    EfficientNetLayout layout = EfficientNetLayout.of(v);
    assertThat(layout.blocks()).hasSize(v.numBlocks());
    assertThat(layout.stemChannels()).isEqualTo(v.stemChannels());
    assertThat(layout.headChannels()).isEqualTo(v.headChannels());
    try (Context ctx = Context.cpu(1)) {
      try (EfficientNetClassifier c = EfficientNetClassifier.create(ctx, v)) {
        assertSameShapes(c.stateDict(), layout.canonicalShapes(true), "");
      }
      try (EffiSegNet net = EffiSegNet.create(ctx, EffiSegNetConfig.of(v))) {
        StateDict sd = net.stateDict();
        StateDict encoder = new StateDict();
        for (String n : sd.names()) {
          if (n.startsWith("encoder.")) {
            encoder.put(n, sd.get(n));
          }
        }
        assertSameShapes(encoder, layout.canonicalShapes(false), "encoder.");
      }
    }
  }

  @Test
  void importedWeightsLoadIntoTheModelAndComeBackUnchanged() throws Exception {
    PretrainedWeights.Imported b0 = PretrainedWeights.load(TfjsImporterTest.B0, null, true);
    EfficientNetLayout b4 = EfficientNetLayout.of(4);
    StateDict timmB4 = PretrainedWeightsTest.toTimm(PretrainedWeightsTest.randomCanonical(b4, 5),
        b4);
    PretrainedWeights.Imported imported4 =
        PretrainedWeights.fromStateDict(timmB4, b4, false, "timm-b4");
    try (Context ctx = Context.cpu(1)) {
      try (EfficientNetClassifier c = EfficientNetClassifier.create(ctx, EfficientNetVariant.B0)) {
        c.loadStateDict(b0.weights(), true);
        StateDict back = c.stateDict();
        for (String n : b0.weights().names()) {
          assertThat(back.get(n)).isEqualTo(b0.weights().get(n));
        }
      }
      try (EffiSegNet net = EffiSegNet.create(ctx, EffiSegNetConfig.of(EfficientNetVariant.B4))) {
        StateDict enc = imported4.withPrefix("encoder.", false);
        net.loadStateDict(enc, false);
        StateDict back = net.stateDict();
        for (String n : enc.names()) {
          assertThat(back.get(n)).isEqualTo(enc.get(n));
        }
      }
    }
  }

  private static void assertSameShapes(StateDict model, Map<String, long[]> expected,
      String prefix) {
    assertThat(model.names()).containsExactlyElementsIn(
        expected.keySet().stream().map(k -> prefix + k).toList());
    for (Map.Entry<String, long[]> e : expected.entrySet()) {
      assertThat(model.get(prefix + e.getKey()).shape()).isEqualTo(e.getValue());
    }
  }
}
