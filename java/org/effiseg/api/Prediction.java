package org.effiseg.api;

import java.awt.Color;
import java.awt.image.BufferedImage;

/**
 * A segmentation of one image at its original size: the polyp probability of every pixel and
 * the binary mask at the segmenter's threshold. Immutable, so safe to share between threads.
 */
public final class Prediction {
  private final int width;
  private final int height;
  private final float[] probabilities;
  private final float cutoff;

  Prediction(int width, int height, float[] probabilities, float cutoff) {
    this.width = width;
    this.height = height;
    this.probabilities = probabilities;
    this.cutoff = cutoff;
  }

  /**
   * The image's width.
   *
   * @return the width in pixels
   */
  public int width() {
    return width;
  }

  /**
   * The image's height.
   *
   * @return the height in pixels
   */
  public int height() {
    return height;
  }

  /**
   * Probability of polyp at (x, y).
   *
   * @param x column, 0 at the left
   * @param y row, 0 at the top
   * @return the probability, in [0, 1]
   * @throws IndexOutOfBoundsException if (x, y) lies outside the image
   */
  public float probability(int x, int y) {
    return probabilities[index(x, y)];
  }

  private int index(int x, int y) {
    if (x < 0 || x >= width || y < 0 || y >= height) {
      throw new IndexOutOfBoundsException("(" + x + ", " + y + ") is outside the " + width + "x" + height + " image");
    }
    return y * width + x;
  }

  /**
   * Every pixel's probability of polyp.
   *
   * @return a copy, row-major: {@code [y * width() + x]}
   */
  public float[] probabilities() {
    return probabilities.clone();
  }

  /**
   * Whether (x, y) is polyp at the segmenter's threshold.
   *
   * @param x column, 0 at the left
   * @param y row, 0 at the top
   * @return true where the probability is above the threshold
   * @throws IndexOutOfBoundsException if (x, y) lies outside the image
   */
  public boolean isPolyp(int x, int y) {
    return probabilities[index(x, y)] > cutoff;
  }

  /**
   * The binary mask at the segmenter's threshold.
   *
   * @return row-major, {@code [y * width() + x]}, true for polyp
   */
  public boolean[] mask() {
    boolean[] m = new boolean[probabilities.length];
    for (int i = 0; i < m.length; i++) {
      m[i] = probabilities[i] > cutoff;
    }
    return m;
  }

  /**
   * How much of the image is polyp.
   *
   * @return the fraction of pixels above the threshold, in [0, 1]
   */
  public double polypFraction() {
    long n = 0;
    for (float p : probabilities) {
      if (p > cutoff) {
        n++;
      }
    }
    return (double) n / probabilities.length;
  }

  /**
   * The mask as an image, in the Kvasir-SEG mask convention.
   *
   * @return a grey image of the original size: 255 polyp, 0 background
   */
  public BufferedImage maskImage() {
    BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_BYTE_GRAY);
    byte[] px = ((java.awt.image.DataBufferByte) img.getRaster().getDataBuffer()).getData();
    for (int i = 0; i < px.length; i++) {
      px[i] = probabilities[i] > cutoff ? (byte) 255 : 0;
    }
    return img;
  }

  /**
   * The probabilities as an image.
   *
   * @return a grey image of the original size, probability × 255
   */
  public BufferedImage probabilityImage() {
    BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_BYTE_GRAY);
    byte[] px = ((java.awt.image.DataBufferByte) img.getRaster().getDataBuffer()).getData();
    for (int i = 0; i < px.length; i++) {
      px[i] = (byte) Math.round(Math.max(0f, Math.min(1f, probabilities[i])) * 255f);
    }
    return img;
  }

  /**
   * The image with the predicted polyp tinted and its outline drawn.
   *
   * @param image the image this prediction was made for
   * @return a new RGB image
   * @throws IllegalArgumentException if {@code image} is not of the prediction's size
   */
  public BufferedImage overlay(BufferedImage image) {
    if (image.getWidth() != width || image.getHeight() != height) {
      throw new IllegalArgumentException("overlay needs the " + width + "x" + height
          + " image this prediction was made for, got " + image.getWidth() + "x" + image.getHeight());
    }
    BufferedImage out = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
    int tint = new Color(0x00, 0x9E, 0x73).getRGB();
    int edge = new Color(0xF0, 0xE4, 0x42).getRGB();
    for (int y = 0; y < height; y++) {
      for (int x = 0; x < width; x++) {
        int rgb = image.getRGB(x, y);
        if (isPolyp(x, y)) {
          rgb = onBoundary(x, y) ? edge : blend(rgb, tint);
        }
        out.setRGB(x, y, rgb);
      }
    }
    return out;
  }

  private boolean onBoundary(int x, int y) {
    return x == 0 || y == 0 || x == width - 1 || y == height - 1
        || !isPolyp(x - 1, y) || !isPolyp(x + 1, y) || !isPolyp(x, y - 1) || !isPolyp(x, y + 1);
  }

  private static int blend(int a, int b) {
    int r = (((a >> 16) & 255) + ((b >> 16) & 255)) / 2;
    int g = (((a >> 8) & 255) + ((b >> 8) & 255)) / 2;
    int bl = ((a & 255) + (b & 255)) / 2;
    return (r << 16) | (g << 8) | bl;
  }
}
