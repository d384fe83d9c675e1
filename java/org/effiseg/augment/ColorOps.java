// The four 8-bit colour adjustments of albumentations 1.3.1's ColorJitter (functional.py
// adjust_*_torchvision on uint8), reproduced with OpenCV's integer/float arithmetic:
//   brightness  LUT clip(v * f, 0, 255), truncated (numpy astype)
//   contrast    LUT clip(v * f + mean * (1 - f)), truncated; mean of OpenCV's RGB2GRAY image
//   saturation  cv2.addWeighted(img, f, grey, 1 - f, 0): float FMA, round half to even, saturate
//   hue         RGB2HSV (H in 0..179), H LUT (h + 180 f) mod 180 truncated, HSV2RGB
package org.effiseg.augment;

import org.effiseg.data.ImageDecoder;

/** In-place colour operations on interleaved 8-bit RGB. */
final class ColorOps {
  private static final int HSV_SHIFT = 12;
  private static final int[] SATURATION_DIVISOR = new int[256];
  private static final int[] HUE_DIVISOR = new int[256];
  private static final float HUE_SCALE = 6.0f / 180;

  static {
    for (int i = 1; i < 256; i++) {
      SATURATION_DIVISOR[i] = (int) Math.rint((255 << HSV_SHIFT) / (1. * i));
      HUE_DIVISOR[i] = (int) Math.rint((180 << HSV_SHIFT) / (6. * i));
    }
  }

  private ColorOps() {}

  static void brightness(byte[] rgb, double factor) {
    if (factor == 1) {
      return;
    }
    byte[] lut = new byte[256];
    for (int v = 0; v < 256; v++) {
      lut[v] = (byte) (int) Math.min(Math.max(v * factor, 0), 255);
    }
    applyLut(rgb, lut);
  }

  static void contrast(byte[] rgb, double factor) {
    if (factor == 1) {
      return;
    }
    double mean = meanGrey(rgb);
    byte[] lut = new byte[256];
    for (int v = 0; v < 256; v++) {
      double value = factor == 0 ? (int) (mean + 0.5) : v * factor + mean * (1 - factor);
      lut[v] = (byte) (int) Math.min(Math.max(value, 0), 255);
    }
    applyLut(rgb, lut);
  }

  static void saturation(byte[] rgb, double factor) {
    if (factor == 1) {
      return;
    }
    float alpha = (float) factor;
    float beta = (float) (1 - factor);
    for (int i = 0; i < rgb.length; i += 3) {
      int r = rgb[i] & 0xFF;
      int g = rgb[i + 1] & 0xFF;
      int b = rgb[i + 2] & 0xFF;
      float greyPart = ImageDecoder.greyOf(r, g, b) * beta;
      rgb[i] = saturate(Math.fma(r, alpha, greyPart));
      rgb[i + 1] = saturate(Math.fma(g, alpha, greyPart));
      rgb[i + 2] = saturate(Math.fma(b, alpha, greyPart));
    }
  }

  static void hue(byte[] rgb, double factor) {
    if (factor == 0) {
      return;
    }
    int[] lut = new int[256];
    for (int v = 0; v < 256; v++) {
      double shifted = (v + 180 * factor) % 180; // numpy mod: result takes the divisor's sign
      if (shifted < 0) {
        shifted += 180;
      }
      lut[v] = (int) shifted;
    }
    for (int i = 0; i < rgb.length; i += 3) {
      int r = rgb[i] & 0xFF;
      int g = rgb[i + 1] & 0xFF;
      int b = rgb[i + 2] & 0xFF;
      int v = Math.max(r, Math.max(g, b));
      int diff = v - Math.min(r, Math.min(g, b));
      int s = (diff * SATURATION_DIVISOR[v] + (1 << (HSV_SHIFT - 1))) >> HSV_SHIFT;
      int h;
      if (v == r) {
        h = g - b;
      } else if (v == g) {
        h = b - r + 2 * diff;
      } else {
        h = r - g + 4 * diff;
      }
      h = (h * HUE_DIVISOR[diff] + (1 << (HSV_SHIFT - 1))) >> HSV_SHIFT;
      if (h < 0) {
        h += 180;
      }
      hsvToRgb(lut[h], s, v, rgb, i);
    }
  }

  /** OpenCV's HSV2RGB_b for one pixel (float path), written back as r, g, b at {@code i}. */
  private static void hsvToRgb(int hue, int saturation, int value, byte[] rgb, int i) {
    float s = saturation * (1.0f / 255.0f);
    float v = value * (1.0f / 255.0f);
    float r = v;
    float g = v;
    float b = v;
    if (s != 0) {
      float h = (hue * HUE_SCALE) % 6f;
      int sector = (int) Math.floor(h);
      h -= sector;
      if (sector < 0 || sector >= 6) {
        sector = 0;
        h = 0f;
      }
      float p = v * (1.f - s);
      float q = v * (1.f - s * h);
      float t = v * (1.f - s * (1.f - h));
      // OpenCV's sector_data table, spelled out: (r, g, b) per hue sector.
      switch (sector) {
        case 0 -> { g = t; b = p; }
        case 1 -> { r = q; b = p; }
        case 2 -> { r = p; b = t; }
        case 3 -> { r = p; g = q; }
        case 4 -> { r = t; g = p; }
        default -> { g = p; b = q; }
      }
    }
    rgb[i] = saturate(r * 255.0f);
    rgb[i + 1] = saturate(g * 255.0f);
    rgb[i + 2] = saturate(b * 255.0f);
  }

  private static double meanGrey(byte[] rgb) {
    long sum = 0;
    for (int i = 0; i < rgb.length; i += 3) {
      sum += ImageDecoder.greyOf(rgb[i] & 0xFF, rgb[i + 1] & 0xFF, rgb[i + 2] & 0xFF);
    }
    return (double) sum / (rgb.length / 3);
  }

  private static void applyLut(byte[] rgb, byte[] lut) {
    for (int i = 0; i < rgb.length; i++) {
      rgb[i] = lut[rgb[i] & 0xFF];
    }
  }

  /** OpenCV saturate_cast<uchar>(float): round half to even, clamp to 0..255. */
  private static byte saturate(float value) {
    int rounded = (int) Math.rint(value);
    return (byte) (rounded < 0 ? 0 : rounded > 255 ? 255 : rounded);
  }
}
