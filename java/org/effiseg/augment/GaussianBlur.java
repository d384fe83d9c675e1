// Gaussian smoothing of a double field as three successive box filters per axis whose widths are
// chosen so that their combined variance matches sigma^2 (Kovesi, "Fast almost-Gaussian filtering",
// 2010). O(1) per sample whatever sigma is, where scipy's gaussian_filter(sigma=50) uses 401 taps.
// Borders use scipy's default mode 'reflect' (d c b a | a b c d | d c b a).
package org.effiseg.augment;

/** Approximate Gaussian blur (three box passes per axis) with reflecting borders. */
final class GaussianBlur {
  private static final int PASSES = 3;

  private GaussianBlur() {}

  /** Blurs {@code field} (row-major, w x h) in place. */
  static void blur(double[] field, int w, int h, double sigma) {
    int[] widths = boxWidths(sigma);
    double[] line = new double[Math.max(w, h)];
    double[] scratch = new double[line.length];
    for (int y = 0; y < h; y++) {
      System.arraycopy(field, y * w, line, 0, w);
      blurLine(line, scratch, w, widths);
      System.arraycopy(line, 0, field, y * w, w);
    }
    for (int x = 0; x < w; x++) {
      for (int y = 0; y < h; y++) {
        line[y] = field[y * w + x];
      }
      blurLine(line, scratch, h, widths);
      for (int y = 0; y < h; y++) {
        field[y * w + x] = line[y];
      }
    }
  }

  /** Odd box widths whose variances (w^2 - 1) / 12 add up to about sigma^2. */
  static int[] boxWidths(double sigma) {
    double ideal = Math.sqrt(12 * sigma * sigma / PASSES + 1);
    int lower = (int) Math.floor(ideal);
    if (lower % 2 == 0) {
      lower--;
    }
    int upper = lower + 2;
    double lowerCount = (12 * sigma * sigma - PASSES * lower * lower - 4.0 * PASSES * lower
        - 3.0 * PASSES) / (-4.0 * lower - 4);
    long count = Math.round(lowerCount);
    int[] widths = new int[PASSES];
    for (int i = 0; i < PASSES; i++) {
      widths[i] = i < count ? lower : upper;
    }
    return widths;
  }

  private static void blurLine(double[] line, double[] scratch, int n, int[] widths) {
    for (int width : widths) {
      int radius = width / 2;
      double sum = 0;
      for (int k = -radius; k <= radius; k++) {
        sum += line[reflect(k, n)];
      }
      scratch[0] = sum / width;
      for (int i = 1; i < n; i++) {
        sum += line[reflect(i + radius, n)] - line[reflect(i - radius - 1, n)];
        scratch[i] = sum / width;
      }
      System.arraycopy(scratch, 0, line, 0, n);
    }
  }

  /** scipy 'reflect': the edge sample is repeated, the pattern has period 2n. */
  private static int reflect(int k, int n) {
    int period = 2 * n;
    int m = Math.floorMod(k, period);
    return m < n ? m : period - 1 - m;
  }
}
