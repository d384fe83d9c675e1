package org.effiseg.weights;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Path;
import java.util.Map;
import org.effiseg.model.StateDict;
import org.effiseg.train.TrainConfig;
import org.junit.jupiter.api.Test;

/** What a checkpoint implies about its network is what the training configuration said. */
class CheckpointModelTest {
  private static final Path FILE = Path.of("run/best.safetensors");

  private static Checkpoint withConfig(String json) {
    return new Checkpoint(new StateDict(), null, "b0", json, 1, 1, "{}", Map.of());
  }

  @Test
  void agreesWithTheTrainingConfigurationForEveryPreset() throws Exception {
    for (String preset : TrainConfig.presetNames()) {
      TrainConfig config = TrainConfig.preset(preset);
      config.apply(Map.of("decoder_channels", 24, "threshold_logit", -0.25), "test");
      CheckpointModel m = CheckpointModel.of(withConfig(config.toJson()), FILE);
      assertThat(m.network()).isEqualTo(config.modelConfig());
      assertThat(m.imageSize()).isEqualTo(config.resolution());
      assertThat(m.thresholdLogit()).isEqualTo(config.thresholdLogit);
      assertThat(m.preset()).isEqualTo(preset);
    }
  }

  @Test
  void aMissingOrWrongSettingNamesTheFileAndTheKey() {
    WeightsFormatException e = assertThrows(WeightsFormatException.class,
        () -> CheckpointModel.of(withConfig("{\"variant\": \"b0\"}"), FILE));
    assertThat(e).hasMessageThat().contains(FILE.toString());
    assertThat(e).hasMessageThat().contains("image_size");
    e = assertThrows(WeightsFormatException.class, () -> CheckpointModel.of(withConfig(
        TrainConfig.preset("smoke").toJson().replace("\"variant\": \"b0\"", "\"variant\": \"b9\"")), FILE));
    assertThat(e).hasMessageThat().contains("b9");
  }
}
