package org.effiseg.api;

import java.util.Locale;

/**
 * Test-time augmentation: which views of an image a {@link Segmenter} averages. Every mode
 * averages polyp probabilities at the model's resolution, before they are resized back to the
 * image and before the threshold.
 */
public enum Tta {
  /** One view, the image itself: one forward pass per image. */
  NONE,
  /**
   * Four views: the image and its mirror images left-right, top-bottom and both ways (the 180°
   * turn), as ttach's flip transform. Each mirrored view's probabilities are mirrored back, and
   * the pixel's probability is the mean of the four (four forward passes per image). The views
   * are closed under mirroring, so mirroring the image mirrors the result.
   */
  FLIP;

  /**
   * The mode a command-line or configuration value names.
   *
   * @param name "none" or "flip", in any case
   * @return the mode
   * @throws IllegalArgumentException for any other name
   */
  public static Tta parse(String name) {
    try {
      return valueOf(name.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("tta must be none or flip, got '" + name + "'");
    }
  }

  /**
   * The name as the command line spells it.
   *
   * @return "none" or "flip"
   */
  public String cliName() {
    return name().toLowerCase(Locale.ROOT);
  }
}
