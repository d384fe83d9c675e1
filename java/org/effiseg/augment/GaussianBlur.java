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
    double[] scratch = new double[field.length];
    for (int width : widths) {
      boxRows(field, scratch, w, h, width / 2);
    }
    for (int width : widths) {
      boxColumns(field, scratch, w, h, width / 2);
    }
  }

  /** Running-sum box filter along each row; the reflected indices are the same for every row. */
  private static void boxRows(double[] field, double[] scratch, int w, int h, int radius) {
    int[] entering = new int[w];
    int[] leaving = new int[w];
    for (int i = 0; i < w; i++) {
      entering[i] = reflect(i + radius + 1, w);
      leaving[i] = reflect(i - radius, w);
    }
    double scale = 1.0 / (2 * radius + 1);
    for (int y = 0; y < h; y++) {
      int row = y * w;
      double sum = 0;
      for (int k = -radius; k <= radius; k++) {
        sum += field[row + reflect(k, w)];
      }
      for (int x = 0; x < w; x++) {
        scratch[row + x] = sum * scale;
        sum += field[row + entering[x]] - field[row + leaving[x]];
      }
    }
    System.arraycopy(scratch, 0, field, 0, field.length);
  }

  /** Running-sum box filter down the columns, one row of column sums at a time (cache friendly). */
  private static void boxColumns(double[] field, double[] scratch, int w, int h, int radius) {
    double[] sums = new double[w];
    for (int k = -radius; k <= radius; k++) {
      int row = reflect(k, h) * w;
      for (int x = 0; x < w; x++) {
        sums[x] += field[row + x];
      }
    }
    double scale = 1.0 / (2 * radius + 1);
    for (int y = 0; y < h; y++) {
      int out = y * w;
      int entering = reflect(y + radius + 1, h) * w;
      int leaving = reflect(y - radius, h) * w;
      for (int x = 0; x < w; x++) {
        scratch[out + x] = sums[x] * scale;
        sums[x] += field[entering + x] - field[leaving + x];
      }
    }
    System.arraycopy(scratch, 0, field, 0, field.length);
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

  /** scipy 'reflect': the edge sample is repeated, the pattern has period 2n. */
  private static int reflect(int k, int n) {
    int period = 2 * n;
    int m = Math.floorMod(k, period);
    return m < n ? m : period - 1 - m;
  }
}
