package org.effiseg.eval;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class TrainingLogTest {
  @Test
  void readsColumnsWithGapsAndExtras() {
    TrainingLog log =
        TrainingLog.parse(
            "epoch,train_loss,val_dice,my_extra\n"
                + "1,0.9,,7\n"
                + "2,0.5,nan,8\n"
                + "\n"
                + "3, 0.25 ,0.8,9\n");
    assertThat(log.epochs()).isEqualTo(3);
    assertThat(log.columns())
        .containsExactly("epoch", "train_loss", "val_dice", "my_extra")
        .inOrder();
    assertThat(log.column("train_loss"))
        .usingExactEquality()
        .containsExactly(0.9, 0.5, 0.25)
        .inOrder();
    double[] dice = log.column("val_dice");
    assertThat(dice[0]).isNaN();
    assertThat(dice[1]).isNaN();
    assertThat(dice[2]).isEqualTo(0.8);
    assertThat(log.has("lr")).isFalse();
  }

  @Test
  void headerListsTheStandardColumns() {
    assertThat(TrainingLog.header())
        .startsWith("epoch,train_loss,train_dice_loss,train_bce_loss,train_npd_loss,");
    TrainingLog log = TrainingLog.parse(TrainingLog.header() + "\n");
    assertThat(log.epochs()).isEqualTo(0);
    assertThat(log.columns()).isEqualTo(TrainingLog.COLUMNS);
  }

  @Test
  void badInputIsNamed() {
    EvaluationInputException e =
        assertThrows(EvaluationInputException.class, () -> TrainingLog.parse("epoch,lr\n1,abc\n"));
    assertThat(e).hasMessageThat().contains("line 2, column lr");
    assertThrows(EvaluationInputException.class, () -> TrainingLog.parse("lr\n1\n"));
    assertThrows(EvaluationInputException.class, () -> TrainingLog.parse("epoch,lr\n1\n"));
    assertThrows(EvaluationInputException.class, () -> TrainingLog.parse(""));
  }
}
