package org.effiseg.eval;

/** Test masks drawn as text: {@code '#'} is foreground, anything else background. */
final class Masks {
  private Masks() {}

  static BinaryMask parse(String... rows) {
    int w = rows[0].length();
    boolean[] p = new boolean[w * rows.length];
    for (int y = 0; y < rows.length; y++) {
      if (rows[y].length() != w) {
        throw new IllegalArgumentException("ragged row " + y);
      }
      for (int x = 0; x < w; x++) {
        p[y * w + x] = rows[y].charAt(x) == '#';
      }
    }
    return BinaryMask.of(w, rows.length, p);
  }

  /** A w x h mask with the axis-aligned rectangle [x0, x1) x [y0, y1) set. */
  static BinaryMask rect(int w, int h, int x0, int y0, int x1, int y1) {
    boolean[] p = new boolean[w * h];
    for (int y = y0; y < y1; y++) {
      for (int x = x0; x < x1; x++) {
        p[y * w + x] = true;
      }
    }
    return BinaryMask.of(w, h, p);
  }
}
