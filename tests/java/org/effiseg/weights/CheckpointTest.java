package org.effiseg.weights;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.effiseg.model.StateDict;
import org.effiseg.model.TensorData;
import org.effiseg.testing.Rand;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointTest {
  @TempDir Path tmp;

  static StateDict model(long seed) {
    Rand r = new Rand(seed);
    StateDict sd = new StateDict();
    sd.put("encoder._conv_stem.weight", new TensorData(new long[] {4, 3, 3, 3}, r.normal(108, 1)));
    sd.put("encoder._bn0.running_var", new TensorData(new long[] {4}, r.uniform(4, 0.5, 2)));
    sd.put("decoder.head.bias", new TensorData(new long[] {1}, new float[] {0.5f}));
    return sd;
  }

  @Test
  void roundTripsModelOptimizerAndMetadata() throws Exception {
    Rand r = new Rand(9);
    Checkpoint c = new Checkpoint(model(1), new Checkpoint.OptimizerState(r.normal(113, 1),
        r.uniform(113, 0, 1)), "b0", "{\"lr\": 0.0001, \"epochs\": 300}", 12, 1200,
        "{\"val_dice\": 0.93}", Map.of("rng", "seed=42;draws=9600", "data_order", "epoch12:3,1,2"));
    Path f = tmp.resolve("runs/best.safetensors");
    Checkpoint.write(f, c);
    Checkpoint back = Checkpoint.read(f);
    assertThat(back.variant()).isEqualTo("b0");
    assertThat(back.epoch()).isEqualTo(12);
    assertThat(back.step()).isEqualTo(1200);
    assertThat(back.configJson()).isEqualTo("{\"lr\": 0.0001, \"epochs\": 300}");
    assertThat(back.metricsJson()).isEqualTo("{\"val_dice\": 0.93}");
    assertThat(back.extra()).containsExactly("rng", "seed=42;draws=9600", "data_order",
        "epoch12:3,1,2");
    assertThat(back.model().names()).containsExactlyElementsIn(c.model().names()).inOrder();
    for (String n : c.model().names()) {
      assertThat(back.model().get(n)).isEqualTo(c.model().get(n));
    }
    assertThat(back.optimizer().expAvg()).isEqualTo(c.optimizer().expAvg());
    assertThat(back.optimizer().expAvgSq()).isEqualTo(c.optimizer().expAvgSq());
    // Any safetensors reader sees the flat optimizer tensors and the metadata.
    Safetensors.Contents raw = Safetensors.read(f);
    assertThat(raw.tensors().get("optimizer.exp_avg").shape()).asList().containsExactly(113L);
    assertThat(raw.metadata()).containsEntry("format", "effiseg-checkpoint");
    // No temporary files are left behind.
    try (var files = Files.list(f.getParent())) {
      assertThat(files.map(p -> p.getFileName().toString()).toList())
          .containsExactly("best.safetensors");
    }
  }

  @Test
  void aWeightAverageTravelsAsTwoFlatTensorsApartFromTheModel() throws Exception {
    Rand r = new Rand(3);
    Checkpoint.Ema ema = new Checkpoint.Ema(r.normal(113, 1), r.uniform(8, 0.5, 2));
    Path f = tmp.resolve("last.safetensors");
    Checkpoint.write(f, new Checkpoint(model(1), null, "b0", null, 2, 20, null, null, ema));
    Checkpoint back = Checkpoint.read(f);
    assertThat(back.ema().weights()).isEqualTo(ema.weights());
    assertThat(back.ema().buffers()).isEqualTo(ema.buffers());
    assertThat(back.model().names()).containsExactlyElementsIn(model(1).names()).inOrder();
    Safetensors.Contents raw = Safetensors.read(f);
    assertThat(raw.tensors().get("ema.weights").shape()).asList().containsExactly(113L);
    assertThat(raw.tensors().get("ema.buffers").shape()).asList().containsExactly(8L);
    // a checkpoint without one (every checkpoint written before --ema) reads as none
    Path without = tmp.resolve("best.safetensors");
    Checkpoint.write(without, new Checkpoint(model(1), null, "b0", null, 2, 20, null, null));
    assertThat(Checkpoint.read(without).ema()).isNull();
    assertThat(Safetensors.read(without).tensors().names()).containsExactlyElementsIn(model(1).names());
    // half an average is refused, naming both tensors
    StateDict half = model(1);
    half.put("ema.weights", new TensorData(new long[] {113}, ema.weights()));
    Path broken = tmp.resolve("broken.safetensors");
    Safetensors.write(broken, half, Map.of("format", Checkpoint.FORMAT, "format_version",
        Checkpoint.FORMAT_VERSION, "variant", "b0"));
    assertThat(assertThrows(WeightsFormatException.class, () -> Checkpoint.read(broken)))
        .hasMessageThat().contains("has only one of ema.weights and ema.buffers");
    assertThrows(IllegalArgumentException.class,
        () -> new Checkpoint(half, null, "b0", null, 0, 0, null, null));
  }

  @Test
  void overwritesAtomicallyAndKeepsInferenceOnlyCheckpointsSmall() throws Exception {
    Path f = tmp.resolve("last.safetensors");
    Checkpoint.write(f, new Checkpoint(model(1), null, "b0", null, 1, 10, null, null));
    Checkpoint.write(f, new Checkpoint(model(2), null, "b4", null, 2, 20, null, null));
    Checkpoint back = Checkpoint.read(f);
    assertThat(back.variant()).isEqualTo("b4");
    assertThat(back.optimizer()).isNull();
    assertThat(back.model().get("encoder._conv_stem.weight"))
        .isEqualTo(model(2).get("encoder._conv_stem.weight"));
    assertThat(back.configJson()).isEqualTo("{}");
  }

  @Test
  void rejectsPlainWeightsAndBadMetadata() throws Exception {
    Path plain = tmp.resolve("plain.safetensors");
    Safetensors.write(plain, model(1), Map.of());
    assertThat(assertThrows(WeightsFormatException.class, () -> Checkpoint.read(plain))
        .getMessage()).contains("not an effiseg checkpoint");
    assertThrows(IllegalArgumentException.class,
        () -> new Checkpoint(model(1), null, "b0", "{not json", 0, 0, null, null));
    assertThrows(IllegalArgumentException.class,
        () -> new Checkpoint(model(1), null, "b0", null, 0, 0, null, Map.of("epoch", "3")));
    Path ckpt = tmp.resolve("ckpt.safetensors");
    Checkpoint.write(ckpt, new Checkpoint(model(1), null, "b0", null, 0, 0, null, null));
    assertThat(assertThrows(WeightsFormatException.class,
        () -> PretrainedWeights.load(ckpt, null, false)).getMessage())
        .contains("this is an effiseg checkpoint");
    Path cut = tmp.resolve("cut.safetensors");
    Checkpoint.write(cut, new Checkpoint(model(1), null, "b0", null, 0, 0, null, null));
    byte[] bytes = Files.readAllBytes(cut);
    Files.write(cut, java.util.Arrays.copyOf(bytes, bytes.length - 4));
    assertThat(assertThrows(WeightsFormatException.class, () -> Checkpoint.read(cut))
        .getMessage()).contains("truncated");
  }

  @Test
  void nonFiniteTensorsAreNeverWritten() {
    StateDict sd = model(3);
    float[] data = sd.get("decoder.head.bias").data().clone();
    data[0] = Float.POSITIVE_INFINITY;
    sd.put("decoder.head.bias", new TensorData(new long[] {1}, data));
    Path f = tmp.resolve("diverged.safetensors");
    WeightsFormatException e = assertThrows(WeightsFormatException.class,
        () -> Checkpoint.write(f, new Checkpoint(sd, null, "b0", "{}", 1, 1, "{}", Map.of())));
    assertThat(e).hasMessageThat().contains("decoder.head.bias");
    assertThat(Files.exists(f)).isFalse();
  }
}
