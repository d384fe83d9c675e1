// The study's augmentation variants as data: a base preset plus '+'-joined modifiers, e.g.
// "original+p08+no-elastic" (the study's mod1) or "improved+black-rect".
//
// original reproduces EffiSegNet's reference train transforms (albumentations 1.3.1, see
// docs/data-pipeline.md): note that albumentations' Affine turns the scalar arguments
// translate_percent=0.125 and rotate=90 into constant ranges, so the reference always shifts by
// +12.5 % and rotates by 90 degrees when Affine fires; "symmetric-affine" gives +-12.5 % / +-90.
package org.effiseg.augment;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.UnaryOperator;

/** Named presets and modifiers; {@link #parse} composes them. */
public final class AugmentPresets {
  /** EffiSegNet's reference training transforms. */
  public static final AugmentConfig ORIGINAL = new AugmentConfig(
      new AugmentConfig.BlackRectangle(0, 0.3),
      0.5,
      0.5,
      new AugmentConfig.ColorJitter(0.5, new Range(0.6, 1.6), Range.around(1, 0.2),
          Range.around(1, 0.1), Range.around(0, 0.01)),
      new AugmentConfig.Affine(0.5, new Range(0.5, 1.5), Range.constant(0.125),
          Range.constant(90)),
      new AugmentConfig.Elastic(0.5, 1, 50, 50));

  private static final Map<String, UnaryOperator<AugmentConfig>> MODIFIERS = new LinkedHashMap<>();

  static {
    MODIFIERS.put("p08", c -> c
        .withColorJitter(withP(c.colorJitter(), 0.8))
        .withAffine(new AugmentConfig.Affine(0.8, c.affine().scale(), c.affine().translate(),
            c.affine().rotate())));
    MODIFIERS.put("no-elastic", c -> c.withElastic(new AugmentConfig.Elastic(
        0, c.elastic().alpha(), c.elastic().sigma(), c.elastic().alphaAffine())));
    MODIFIERS.put("weak-jitter", c -> c.withColorJitter(new AugmentConfig.ColorJitter(
        c.colorJitter().p(), new Range(0.8, 1.4), Range.around(1, 0.15), Range.around(1, 0.075),
        c.colorJitter().hue())));
    MODIFIERS.put("black-rect", c -> c.withBlackRectangle(
        new AugmentConfig.BlackRectangle(0.5, c.blackRectangle().fraction())));
    MODIFIERS.put("symmetric-affine", c -> c.withAffine(new AugmentConfig.Affine(
        c.affine().p(), c.affine().scale(), Range.around(0, 0.125), Range.around(0, 90))));
  }

  /** The study's best variant: p 0.8, no elastic, weaker jitter (its mod4). */
  public static final AugmentConfig IMPROVED = parse("original+p08+no-elastic+weak-jitter");

  /** Resize and normalise only (validation, test, inference). */
  public static final AugmentConfig NONE = new AugmentConfig(
      new AugmentConfig.BlackRectangle(0, 0.3), 0, 0, withP(ORIGINAL.colorJitter(), 0),
      new AugmentConfig.Affine(0, ORIGINAL.affine().scale(), ORIGINAL.affine().translate(),
          ORIGINAL.affine().rotate()),
      new AugmentConfig.Elastic(0, 1, 50, 50));

  private AugmentPresets() {}

  /**
   * Parses {@code base[+modifier...]}; base is none, original or improved, modifiers are p08,
   * no-elastic, weak-jitter, black-rect, symmetric-affine (applied left to right).
   */
  public static AugmentConfig parse(String spec) {
    String[] parts = spec.trim().toLowerCase(Locale.ROOT).split("\\+");
    AugmentConfig config = switch (parts[0].trim()) {
      case "original" -> ORIGINAL;
      case "improved" -> IMPROVED;
      case "none" -> NONE;
      default -> throw new IllegalArgumentException("unknown preset '" + parts[0]
          + "' (expected none, original or improved, then +modifiers " + MODIFIERS.keySet() + ")");
    };
    for (int i = 1; i < parts.length; i++) {
      UnaryOperator<AugmentConfig> modifier = MODIFIERS.get(parts[i].trim());
      if (modifier == null) {
        throw new IllegalArgumentException(
            "unknown preset modifier '" + parts[i] + "' (expected one of " + MODIFIERS.keySet() + ")");
      }
      config = modifier.apply(config);
    }
    return config;
  }

  private static AugmentConfig.ColorJitter withP(AugmentConfig.ColorJitter jitter, double p) {
    return new AugmentConfig.ColorJitter(
        p, jitter.brightness(), jitter.contrast(), jitter.saturation(), jitter.hue());
  }
}
