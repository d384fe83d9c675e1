// The working image and mask one worker augments in place: 8-bit RGB plus a 0/1 mask, with a spare
// buffer of each so geometric transforms can write a new image without allocating per sample.
package org.effiseg.augment;

/** A mutable image/mask pair of fixed size; reused from sample to sample by one thread. */
public final class Sample {
  private final int width;
  private final int height;
  private byte[] rgb;
  private byte[] mask;
  private byte[] spareRgb;
  private byte[] spareMask;

  public Sample(int width, int height) {
    this.width = width;
    this.height = height;
    this.rgb = new byte[width * height * 3];
    this.mask = new byte[width * height];
    this.spareRgb = new byte[rgb.length];
    this.spareMask = new byte[mask.length];
  }

  public int width() {
    return width;
  }

  public int height() {
    return height;
  }

  /** Interleaved RGB, {@code rgb()[(y * width + x) * 3 + c]}. */
  public byte[] rgb() {
    return rgb;
  }

  /** 0/1 per pixel, {@code mask()[y * width + x]}. */
  public byte[] mask() {
    return mask;
  }

  /** Scratch RGB buffer a transform writes into before {@link #swapRgb()}. */
  byte[] spareRgb() {
    return spareRgb;
  }

  byte[] spareMask() {
    return spareMask;
  }

  /** Makes the spare RGB buffer current (and the old one spare). */
  void swapRgb() {
    byte[] old = rgb;
    rgb = spareRgb;
    spareRgb = old;
  }

  void swapMask() {
    byte[] old = mask;
    mask = spareMask;
    spareMask = old;
  }
}
