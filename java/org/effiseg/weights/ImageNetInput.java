package org.effiseg.weights;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import org.effiseg.data.ImageDecoder;
import org.effiseg.model.ImageNetNormalization;

/**
 * ImageNet-style input for the pretrained classifiers: decode, resize, centre-crop, scale RGB to
 * [0, 1] and normalise with the ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225)
 * — the same as the TF.js graph's built-in (x·255 − (123.675, 116.28, 103.53)) / (58.395, 57.12,
 * 57.375).
 *
 * <p>Resizing is antialiased bilinear (a triangle filter widened by the scale factor when
 * shrinking, as PIL's {@code Image.resize(BILINEAR)} and torchvision's {@code Resize} with
 * antialiasing do), computed in float.
 */
public final class ImageNetInput {
  /** The usual evaluation crop ratio: 224 of 256. */
  public static final double CROP_FRACTION = 0.875;

  private ImageNetInput() {}

  /** Decodes an image file (JPEG, PNG, BMP, GIF) to RGB. */
  public static BufferedImage read(Path file) throws IOException {
    return ImageDecoder.readImage(file);
  }

  /** Interleaved RGB in [0, 255] as floats, row-major [H, W, 3]. */
  static float[] rgb(BufferedImage img) {
    int w = img.getWidth();
    int h = img.getHeight();
    int[] argb = img.getRGB(0, 0, w, h, null, 0, w);
    float[] out = new float[w * h * 3];
    for (int i = 0; i < argb.length; i++) {
      out[3 * i] = (argb[i] >> 16) & 0xff;
      out[3 * i + 1] = (argb[i] >> 8) & 0xff;
      out[3 * i + 2] = argb[i] & 0xff;
    }
    return out;
  }

  /**
   * The classifier input for {@code size}: an image already size×size is used as is; otherwise the
   * shorter side is resized to round(size / 0.875) (256 for 224) and the centre size×size is
   * cropped. Returns normalised [size, size, 3] floats.
   */
  public static float[] centreCrop(BufferedImage img, int size) {
    int w = img.getWidth();
    int h = img.getHeight();
    float[] rgb = rgb(img);
    if (w != size || h != size) {
      int shorter = (int) Math.round(size / CROP_FRACTION);
      int nw = w <= h ? shorter : (int) Math.round((double) w * shorter / h);
      int nh = w <= h ? (int) Math.round((double) h * shorter / w) : shorter;
      float[] resized = resize(rgb, w, h, nw, nh);
      rgb = crop(resized, nw, (nw - size) / 2, (nh - size) / 2, size, size);
    }
    return normalise(rgb);
  }

  /** The whole image resized to width×height (no crop), normalised [height, width, 3]. */
  public static float[] resized(BufferedImage img, int width, int height) {
    float[] rgb = rgb(img);
    if (img.getWidth() != width || img.getHeight() != height) {
      rgb = resize(rgb, img.getWidth(), img.getHeight(), width, height);
    }
    return normalise(rgb);
  }

  static float[] normalise(float[] rgb) {
    float[] out = new float[rgb.length];
    for (int i = 0; i < rgb.length; i++) {
      int c = i % 3;
      out[i] = (rgb[i] / 255f - ImageNetNormalization.mean(c)) / ImageNetNormalization.std(c);
    }
    return out;
  }

  private static float[] crop(float[] rgb, int w, int x0, int y0, int cw, int ch) {
    float[] out = new float[cw * ch * 3];
    for (int y = 0; y < ch; y++) {
      System.arraycopy(rgb, ((y0 + y) * w + x0) * 3, out, y * cw * 3, cw * 3);
    }
    return out;
  }

  /** Antialiased bilinear resize of interleaved RGB, separable (horizontal, then vertical). */
  static float[] resize(float[] rgb, int w, int h, int nw, int nh) {
    float[] tmp = new float[nw * h * 3];
    Filter fx = new Filter(w, nw);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < nw; x++) {
        for (int c = 0; c < 3; c++) {
          double s = 0;
          for (int k = 0; k < fx.count[x]; k++) {
            s += fx.weights[x][k] * rgb[(y * w + fx.first[x] + k) * 3 + c];
          }
          tmp[(y * nw + x) * 3 + c] = (float) s;
        }
      }
    }
    float[] out = new float[nw * nh * 3];
    Filter fy = new Filter(h, nh);
    for (int y = 0; y < nh; y++) {
      for (int x = 0; x < nw; x++) {
        for (int c = 0; c < 3; c++) {
          double s = 0;
          for (int k = 0; k < fy.count[y]; k++) {
            s += fy.weights[y][k] * tmp[((fy.first[y] + k) * nw + x) * 3 + c];
          }
          out[(y * nw + x) * 3 + c] = (float) s;
        }
      }
    }
    return out;
  }

  /** Triangle-filter taps per output pixel (PIL's ImagingResample coefficients). */
  private static final class Filter {
    final int[] first;
    final int[] count;
    final double[][] weights;

    Filter(int in, int out) {
      double scale = (double) in / out;
      double filterScale = Math.max(scale, 1.0);
      double support = filterScale; // the triangle's support is 1
      first = new int[out];
      count = new int[out];
      weights = new double[out][];
      for (int i = 0; i < out; i++) {
        double centre = (i + 0.5) * scale;
        int lo = Math.max((int) (centre - support + 0.5), 0);
        int hi = Math.min((int) (centre + support + 0.5), in);
        double[] wts = new double[hi - lo];
        double total = 0;
        for (int k = 0; k < wts.length; k++) {
          double d = Math.abs((k + lo - centre + 0.5) / filterScale);
          wts[k] = d < 1 ? 1 - d : 0;
          total += wts[k];
        }
        for (int k = 0; k < wts.length; k++) {
          wts[k] = total > 0 ? wts[k] / total : 0;
        }
        first[i] = lo;
        count[i] = wts.length;
        weights[i] = wts;
      }
    }
  }
}
