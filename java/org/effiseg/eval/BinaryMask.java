package org.effiseg.eval;

import java.util.Arrays;

/**
 * A binary segmentation mask: {@code width x height} pixels, row-major, {@code true} = polyp.
 * Immutable; the constructor copies.
 */
public final class BinaryMask {
  private final int width;
  private final int height;
  private final boolean[] pixels;

  private BinaryMask(int width, int height, boolean[] pixels) {
    this.width = width;
    this.height = height;
    this.pixels = pixels;
  }

  /** A mask over the given row-major pixels (copied). */
  public static BinaryMask of(int width, int height, boolean[] pixels) {
    if (width <= 0 || height <= 0) {
      throw new IllegalArgumentException("mask size must be positive, got " + width + "x" + height);
    }
    if (pixels.length != width * height) {
      throw new IllegalArgumentException(
          "mask "
              + width
              + "x"
              + height
              + " needs "
              + width * height
              + " pixels, got "
              + pixels.length);
    }
    return new BinaryMask(width, height, pixels.clone());
  }

  /**
   * The {@code width x height} ground-truth map starting at {@code offset} of a float buffer (e.g.
   * one image of a batch), foreground where the value is above 0.5: for 0/1 targets.
   */
  public static BinaryMask fromTargets(float[] values, int offset, int width, int height) {
    if (offset < 0 || offset + width * height > values.length) {
      throw new IllegalArgumentException(
          "a "
              + width
              + "x"
              + height
              + " mask at offset "
              + offset
              + " does not fit in "
              + values.length
              + " values");
    }
    boolean[] p = new boolean[width * height];
    for (int i = 0; i < p.length; i++) {
      p[i] = values[offset + i] > 0.5f;
    }
    return new BinaryMask(width, height, p);
  }

  /** An all-background mask. */
  public static BinaryMask empty(int width, int height) {
    return of(width, height, new boolean[width * height]);
  }

  public int width() {
    return width;
  }

  public int height() {
    return height;
  }

  public boolean get(int x, int y) {
    return pixels[y * width + x];
  }

  /** The pixel at a row-major index. */
  public boolean get(int index) {
    return pixels[index];
  }

  /** Number of foreground pixels. */
  public int count() {
    int n = 0;
    for (boolean p : pixels) {
      if (p) {
        n++;
      }
    }
    return n;
  }

  public boolean sameSize(BinaryMask other) {
    return width == other.width && height == other.height;
  }

  /** Nearest-neighbour resize (the only resize that keeps a mask binary). */
  public BinaryMask resizeNearest(int newWidth, int newHeight) {
    if (newWidth == width && newHeight == height) {
      return this;
    }
    boolean[] out = new boolean[newWidth * newHeight];
    for (int y = 0; y < newHeight; y++) {
      int sy = Math.min(height - 1, (int) ((y + 0.5) * height / newHeight));
      for (int x = 0; x < newWidth; x++) {
        int sx = Math.min(width - 1, (int) ((x + 0.5) * width / newWidth));
        out[y * newWidth + x] = pixels[sy * width + sx];
      }
    }
    return new BinaryMask(newWidth, newHeight, out);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof BinaryMask m
        && m.width == width
        && m.height == height
        && Arrays.equals(m.pixels, pixels);
  }

  @Override
  public int hashCode() {
    return 31 * (31 * width + height) + Arrays.hashCode(pixels);
  }

  @Override
  public String toString() {
    return "BinaryMask[" + width + "x" + height + ", " + count() + " foreground]";
  }
}
