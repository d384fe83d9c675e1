package org.effiseg.model;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.effiseg.nativeapi.Context;
import org.effiseg.testing.ModelWeights;
import org.junit.jupiter.api.Test;

/** Loading and exporting state dicts (only tensor read/write needed, no compute kernels). */
class StateDictTest {

  @Test
  void roundTripAndLayoutConversion() {
    EffiSegNetConfig cfg = EffiSegNetConfig.of(EfficientNetVariant.B0);
    try (Context ctx = Context.cpu(1);
        EffiSegNet net = EffiSegNet.create(ctx, cfg)) {
      StateDict sd = ModelWeights.randomize(net.stateDict(), 1);
      net.loadStateDict(sd, true);
      StateDict back = net.stateDict();
      assertThat(back.names()).isEqualTo(sd.names());
      for (String name : sd.names()) {
        assertThat(back.get(name)).isEqualTo(sd.get(name));
      }
      // torch [Cout, Cin, KH, KW] element (o=5, i=2, y=1, x=0) lands at native [y, x, i, o].
      TensorData stem = sd.get("encoder._conv_stem.weight");
      float[] nat = net.parameters().weight("encoder._conv_stem.weight").read();
      assertThat(nat[((1 * 3 + 0) * 3 + 2) * 32 + 5]).isEqualTo(stem.data()[((5 * 3 + 2) * 3 + 1) * 3]);
      assertThat(net.parameters().weights().numel())
          .isEqualTo(net.encoderParameterCount() + net.decoderParameterCount());
    }
  }

  @Test
  void rejectsWhatDoesNotFit() {
    try (Context ctx = Context.cpu(1);
        EffiSegNet net = EffiSegNet.create(ctx, EffiSegNetConfig.of(EfficientNetVariant.B0))) {
      StateDict sd = net.stateDict();
      sd.remove("conv6.weight");
      sd.put("bogus.weight", new TensorData(new long[] {1}, new float[] {1}));
      sd.put("bn6.weight", new TensorData(new long[] {31}, new float[31]));
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> net.loadStateDict(sd, true));
      assertThat(e).hasMessageThat().contains("missing (1): conv6.weight");
      assertThat(e).hasMessageThat().contains("unexpected (1): bogus.weight");
      assertThat(e).hasMessageThat().contains("bn6.weight [31] (expected [32])");
      // Non-strict still rejects shapes, but accepts missing/unexpected.
      assertThrows(IllegalArgumentException.class, () -> net.loadStateDict(sd, false));
      sd.put("bn6.weight", new TensorData(new long[] {32}, new float[32]));
      net.loadStateDict(sd, false);
      assertThat(net.parameters().weight("bn6.weight").read()).isEqualTo(new float[32]);
    }
  }

  @Test
  void skipsTheReferencesUnusedHead() {
    try (Context ctx = Context.cpu(1);
        EffiSegNet net = EffiSegNet.create(ctx, EffiSegNetConfig.of(EfficientNetVariant.B0))) {
      StateDict sd = net.stateDict();
      sd.put("encoder._conv_head.weight", new TensorData(new long[] {1280, 320, 1, 1}, new float[1280 * 320]));
      sd.put("encoder._bn1.weight", new TensorData(new long[] {1280}, new float[1280]));
      sd.put("encoder._bn0.num_batches_tracked", new TensorData(new long[] {}, new float[] {3}));
      net.loadStateDict(sd, true);
    }
  }

  @Test
  void classifierNamesAreEfficientNetPytorchs() {
    try (Context ctx = Context.cpu(1);
        EfficientNetClassifier c = EfficientNetClassifier.create(ctx, EfficientNetVariant.B0)) {
      StateDict sd = c.stateDict();
      assertThat(sd.names().get(0)).isEqualTo("_conv_stem.weight");
      assertThat(sd.get("_fc.weight").shape()).isEqualTo(new long[] {1000, 1280});
      assertThat(sd.get("_conv_head.weight").shape()).isEqualTo(new long[] {1280, 320, 1, 1});
      long trainable =
          c.parameters().layout().entries().stream()
              .filter(ParameterLayout.Entry::trainable)
              .mapToLong(ParameterLayout.Entry::numel)
              .sum();
      assertThat(trainable).isEqualTo(5_288_548L); // efficientnet-b0's well-known count
    }
  }
}
