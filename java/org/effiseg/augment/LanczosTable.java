// OpenCV's fixed-point 2-D Lanczos-4 table for warpAffine/remap (initInterTab2D, INTER_LANCZOS4):
// 32 x 32 sub-pixel positions (INTER_TAB_SIZE = 32), 8 x 8 taps each, weights = products of the
// 1-D weights rounded to 15 bits (INTER_REMAP_COEF_SCALE = 32768), then nudged so that each
// position's weights sum to exactly 32768 the way OpenCV nudges them.
package org.effiseg.augment;

import org.effiseg.data.Lanczos4;

/** The 2-D Lanczos-4 weights, indexed {@code [(fy * 32 + fx) * 64 + row * 8 + column]}. */
final class LanczosTable {
  static final int TAB_SIZE = 32;
  static final int COEF_BITS = 15;
  static final int COEF_SCALE = 1 << COEF_BITS;
  static final int[] WEIGHTS = build();

  private LanczosTable() {}

  private static int[] build() {
    float[] oneDimensional = new float[TAB_SIZE * 8];
    float[] weights = new float[8];
    float step = 1.f / TAB_SIZE;
    for (int i = 0; i < TAB_SIZE; i++) {
      Lanczos4.weights(i * step, weights);
      System.arraycopy(weights, 0, oneDimensional, i * 8, 8);
    }
    int[] table = new int[TAB_SIZE * TAB_SIZE * 64];
    for (int fy = 0; fy < TAB_SIZE; fy++) {
      for (int fx = 0; fx < TAB_SIZE; fx++) {
        int base = (fy * TAB_SIZE + fx) * 64;
        int sum = 0;
        for (int row = 0; row < 8; row++) {
          float vy = oneDimensional[fy * 8 + row];
          for (int column = 0; column < 8; column++) {
            float v = vy * oneDimensional[fx * 8 + column];
            int fixed = saturateShort((int) Math.rint(v * COEF_SCALE));
            table[base + row * 8 + column] = fixed;
            sum += fixed;
          }
        }
        if (sum != COEF_SCALE) {
          nudge(table, base, sum - COEF_SCALE);
        }
      }
    }
    return table;
  }

  /** OpenCV moves the rounding error onto the smallest/largest of the taps (4..5, 4..5). */
  private static void nudge(int[] table, int base, int excess) {
    int minRow = 4;
    int minColumn = 4;
    int maxRow = 4;
    int maxColumn = 4;
    for (int row = 4; row < 6; row++) {
      for (int column = 4; column < 6; column++) {
        int value = table[base + row * 8 + column];
        if (value < table[base + minRow * 8 + minColumn]) {
          minRow = row;
          minColumn = column;
        } else if (value > table[base + maxRow * 8 + maxColumn]) {
          maxRow = row;
          maxColumn = column;
        }
      }
    }
    if (excess < 0) {
      table[base + maxRow * 8 + maxColumn] -= excess;
    } else {
      table[base + minRow * 8 + minColumn] -= excess;
    }
  }

  private static int saturateShort(int value) {
    return Math.max(Short.MIN_VALUE, Math.min(Short.MAX_VALUE, value));
  }
}
