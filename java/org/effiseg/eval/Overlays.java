package org.effiseg.eval;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;

/**
 * Outcome overlays: each pixel of the image tinted by what the prediction did there. Colours come
 * from the Okabe–Ito palette so they stay apart under the common colour-vision deficiencies: true
 * positive bluish green, false positive reddish purple (magenta), false negative yellow; true
 * negatives are left as they are.
 */
public final class Overlays {
  public static final Color TRUE_POSITIVE = new Color(0x00, 0x9E, 0x73);
  public static final Color FALSE_POSITIVE = new Color(0xCC, 0x3E, 0xC8);
  public static final Color FALSE_NEGATIVE = new Color(0xF0, 0xE4, 0x42);
  private static final double ALPHA = 0.6;

  private Overlays() {}

  /**
   * The image (scaled to the mask size; dark grey when {@code null}) with outcome colours blended
   * in.
   */
  public static BufferedImage render(
      BufferedImage image, BinaryMask prediction, BinaryMask groundTruth) {
    int w = groundTruth.width();
    int h = groundTruth.height();
    BufferedImage out = background(image, w, h);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        boolean p = prediction.get(x, y);
        boolean g = groundTruth.get(x, y);
        Color c = p && g ? TRUE_POSITIVE : p ? FALSE_POSITIVE : g ? FALSE_NEGATIVE : null;
        if (c != null) {
          out.setRGB(x, y, blend(out.getRGB(x, y), c));
        }
      }
    }
    return out;
  }

  /** A copy of {@code image} at {@code w x h} (bilinear), or a dark grey canvas. */
  public static BufferedImage background(BufferedImage image, int w, int h) {
    BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = out.createGraphics();
    try {
      if (image == null) {
        g.setColor(new Color(0x40, 0x40, 0x40));
        g.fillRect(0, 0, w, h);
      } else {
        g.setRenderingHint(
            RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        g.drawImage(image, 0, 0, w, h, null);
      }
    } finally {
      g.dispose();
    }
    return out;
  }

  /** Scales so that the longer side is at most {@code maxSide} (never up). */
  public static BufferedImage thumbnail(BufferedImage image, int maxSide) {
    int w = image.getWidth();
    int h = image.getHeight();
    double s = Math.min(1.0, (double) maxSide / Math.max(w, h));
    if (s == 1.0) {
      return image;
    }
    return background(
        image, Math.max(1, (int) Math.round(w * s)), Math.max(1, (int) Math.round(h * s)));
  }

  private static int blend(int rgb, Color c) {
    int r = (int) Math.round((1 - ALPHA) * ((rgb >> 16) & 0xff) + ALPHA * c.getRed());
    int g = (int) Math.round((1 - ALPHA) * ((rgb >> 8) & 0xff) + ALPHA * c.getGreen());
    int b = (int) Math.round((1 - ALPHA) * (rgb & 0xff) + ALPHA * c.getBlue());
    return (r << 16) | (g << 8) | b;
  }
}
