// Presets are the study's variants as data: original and improved values, modifiers composing the
// study's rows, and clear errors for unknown names.
package org.effiseg.augment;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class AugmentPresetsTest {
  @Test
  void originalIsTheReferenceRecipe() {
    AugmentConfig c = AugmentPresets.parse("original");
    assertThat(c.horizontalFlipP()).isEqualTo(0.5);
    assertThat(c.verticalFlipP()).isEqualTo(0.5);
    assertThat(c.colorJitter()).isEqualTo(new AugmentConfig.ColorJitter(0.5, new Range(0.6, 1.6),
        new Range(0.8, 1.2), new Range(0.9, 1.1), new Range(-0.01, 0.01)));
    assertThat(c.affine()).isEqualTo(new AugmentConfig.Affine(0.5, new Range(0.5, 1.5),
        Range.constant(0.125), Range.constant(90)));
    assertThat(c.elastic()).isEqualTo(new AugmentConfig.Elastic(0.5, 1, 50, 50));
    assertThat(c.blackRectangle().p()).isEqualTo(0);
  }

  @Test
  void improvedIsMod4() {
    AugmentConfig c = AugmentPresets.parse("improved");
    assertThat(c).isEqualTo(AugmentPresets.parse("original+p08+no-elastic+weak-jitter"));
    assertThat(c.colorJitter().p()).isEqualTo(0.8);
    assertThat(c.affine().p()).isEqualTo(0.8);
    assertThat(c.elastic().p()).isEqualTo(0);
    assertThat(c.colorJitter().brightness()).isEqualTo(new Range(0.8, 1.4));
    assertThat(c.colorJitter().contrast().min()).isWithin(1e-12).of(0.85);
    assertThat(c.colorJitter().saturation().max()).isWithin(1e-12).of(1.075);
    assertThat(c.colorJitter().hue()).isEqualTo(new Range(-0.01, 0.01));
  }

  @Test
  void modifiersSwitchOneThingEach() {
    AugmentConfig original = AugmentPresets.ORIGINAL;
    AugmentConfig mod3 = AugmentPresets.parse("original+no-elastic");
    assertThat(mod3.withElastic(original.elastic())).isEqualTo(original);
    AugmentConfig blackRect = AugmentPresets.parse("improved+black-rect");
    assertThat(blackRect.blackRectangle()).isEqualTo(new AugmentConfig.BlackRectangle(0.5, 0.3));
    AugmentConfig symmetric = AugmentPresets.parse("original+symmetric-affine");
    assertThat(symmetric.affine().translate()).isEqualTo(new Range(-0.125, 0.125));
    assertThat(symmetric.affine().rotate()).isEqualTo(new Range(-90, 90));
  }

  @Test
  void noneOnlyResizesAndNormalises() {
    AugmentConfig c = AugmentPresets.parse("none");
    assertThat(new double[] {c.horizontalFlipP(), c.verticalFlipP(), c.colorJitter().p(),
        c.affine().p(), c.elastic().p(), c.blackRectangle().p()})
        .usingExactEquality().containsExactly(0, 0, 0, 0, 0, 0);
  }

  @Test
  void unknownNamesAreRefused() {
    assertThat(assertThrows(IllegalArgumentException.class, () -> AugmentPresets.parse("best")))
        .hasMessageThat().contains("unknown preset 'best'");
    assertThat(assertThrows(IllegalArgumentException.class,
        () -> AugmentPresets.parse("original+p09"))).hasMessageThat().contains("p09");
  }
}
