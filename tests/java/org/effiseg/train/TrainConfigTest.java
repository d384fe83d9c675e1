package org.effiseg.train;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainConfigTest {
  @Test
  void everyPresetLoadsAndValidates() {
    for (String name : TrainConfig.presetNames()) {
      TrainConfig.preset(name).validate();
    }
  }

  @Test
  void paperPresetIsTheAuthorsSetup() {
    TrainConfig c = TrainConfig.preset("paper");
    assertThat(c.variant).isEqualTo("b4");
    assertThat(c.epochs).isEqualTo(300);
    assertThat(c.batchSize).isEqualTo(8);
    assertThat(c.lr).isEqualTo(1e-4);
    assertThat(c.weightDecay).isEqualTo(0.01);
    assertThat(c.minLr).isEqualTo(1e-5);
    assertThat(c.augment).isEqualTo("original");
  }

  @Test
  void studyRowsChangeOnlyWhatTheyName() {
    TrainConfig original = TrainConfig.preset("study-original");
    assertThat(original.epochs).isEqualTo(50);
    assertThat(TrainConfig.preset("study-mod1").augmentMods).containsExactly("p08", "no-elastic");
    assertThat(TrainConfig.preset("study-mod4").augmentMods)
        .containsExactly("p08", "no-elastic", "weak-jitter");
    assertThat(TrainConfig.preset("study-mod6").thresholdLogit).isEqualTo(0.5);
    TrainConfig mod8 = TrainConfig.preset("study-mod8");
    assertThat(mod8.augmentMods).containsExactly("black-rect");
    assertThat(mod8.npdWeight).isEqualTo(0.01);
    assertThat(mod8.epochs).isEqualTo(50);
    assertThat(mod8.variant).isEqualTo("b4");
  }

  @Test
  void b0LongIsTheQuickPresetOverFiftyEpochs() {
    TrainConfig longer = TrainConfig.preset("b0-long");
    TrainConfig quick = TrainConfig.preset("quick");
    assertThat(quick.epochs).isNotEqualTo(50);
    quick.epochs = 50;
    quick.preset = "b0-long";
    assertThat(longer.toJson()).isEqualTo(quick.toJson());
  }

  @Test
  void fileOverridesPresetAndUnknownKeysAreErrors(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("my.yaml");
    Files.writeString(file, "epochs: 7\nlr: 3.0e-4\naugment_mods: [black-rect]\n");
    TrainConfig c = TrainConfig.preset("quick");
    c.applyFile(file);
    assertThat(c.epochs).isEqualTo(7);
    assertThat(c.lr).isEqualTo(3e-4);
    assertThat(c.augmentMods).containsExactly("black-rect");
    assertThat(c.variant).isEqualTo("b0");

    Files.writeString(file, "epoch: 7\n");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> c.applyFile(file));
    assertThat(e).hasMessageThat().contains("unknown setting 'epoch'");
  }

  @Test
  void wrongTypesAndRangesAreReported() {
    TrainConfig c = TrainConfig.preset("quick");
    assertThrows(IllegalArgumentException.class, () -> c.apply(Map.of("epochs", "many"), "test"));
    c.apply(Map.of("variant", "b9"), "test");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, c::validate);
    assertThat(e).hasMessageThat().contains("b0 … b7");
  }

  @Test
  void jsonRoundTrips() {
    TrainConfig c = TrainConfig.preset("study-mod8");
    TrainConfig back = TrainConfig.fromJson(c.toJson());
    assertThat(back.toJson()).isEqualTo(c.toJson());
  }

  @Test
  void unknownPresetListsTheKnownOnes() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> TrainConfig.preset("fast"));
    assertThat(e).hasMessageThat().contains("study-mod8");
  }

  @Test
  void cosineScheduleMatchesPyTorchClosedForm() {
    LrSchedule s = new LrSchedule(1e-4, 1e-5, 300);
    assertThat(s.lr(0)).isEqualTo(1e-4);
    assertThat(s.lr(150)).isWithin(1e-12).of(5.5e-5);
    assertThat(s.lr(300)).isWithin(1e-15).of(1e-5);
  }
}
