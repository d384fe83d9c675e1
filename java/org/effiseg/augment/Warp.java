// cv::warpAffine and cv::remap for 8-bit RGB images (INTER_LANCZOS4) and 0/1 masks
// (INTER_NEAREST), reproducing OpenCV's fixed-point coordinate arithmetic: warpAffine steps
// through the inverse matrix in 1/1024 pixel units and keeps 1/32 pixel (INTER_TAB_SIZE) for the
// interpolation table; remap with float maps rounds map * 32. Borders: constant 0 (Affine) or
// BORDER_REFLECT_101 (ElasticTransform's default).
package org.effiseg.augment;

/** Geometric resampling kernels; every method writes all of {@code dst}. */
final class Warp {
  private static final int INTER_BITS = 5;
  private static final int TAB_MASK = LanczosTable.TAB_SIZE - 1;
  private static final int AB_BITS = 10;
  private static final int AB_SCALE = 1 << AB_BITS;
  private static final int[] TABLE = LanczosTable.WEIGHTS;
  private static final int CENTRE_ONLY_POSITION = 0;

  enum Border {
    CONSTANT_ZERO,
    REFLECT_101
  }

  private Warp() {}

  /** OpenCV's inversion of a forward 2x3 matrix {m0 m1 m2; m3 m4 m5} (warpAffine without WARP_INVERSE_MAP). */
  static double[] invert(double[] m) {
    double d = m[0] * m[4] - m[1] * m[3];
    d = d != 0 ? 1. / d : 0;
    double a11 = m[4] * d;
    double a22 = m[0] * d;
    double a12 = m[1] * -d;
    double a21 = m[3] * -d;
    double b1 = -a11 * m[2] - a12 * m[5];
    double b2 = -a21 * m[2] - a22 * m[5];
    return new double[] {a11, a12, b1, a21, a22, b2};
  }

  /**
   * The source as the interior kernel reads it: red and green packed in one long (red in the low
   * 32 bits) and blue alone, so each tap costs two multiply-adds instead of three. The packed sums
   * stay exact: the red sum fits 32 signed bits, so the high half is exactly the green sum.
   */
  private record Planes(long[] redGreen, int[] blue) {
    static Planes of(byte[] rgb) {
      int n = rgb.length / 3;
      long[] redGreen = new long[n];
      int[] blue = new int[n];
      for (int p = 0, i = 0; p < n; p++, i += 3) {
        redGreen[p] = (rgb[i] & 0xFF) | ((long) (rgb[i + 1] & 0xFF) << 32);
        blue[p] = rgb[i + 2] & 0xFF;
      }
      return new Planes(redGreen, blue);
    }
  }

  /** dst(x, y) = src(inverse * (x, y)) with Lanczos-4; {@code inverse} maps dst to src. */
  static void affineLanczos(byte[] src, byte[] dst, int w, int h, double[] inverse, Border border) {
    Planes planes = Planes.of(src);
    int[] xStep = new int[w];
    int[] yStep = new int[w];
    for (int x = 0; x < w; x++) {
      xStep[x] = roundToInt(inverse[0] * x * AB_SCALE);
      yStep[x] = roundToInt(inverse[3] * x * AB_SCALE);
    }
    int roundDelta = AB_SCALE / LanczosTable.TAB_SIZE / 2;
    int[] taps = new int[16];
    for (int y = 0; y < h; y++) {
      int x0 = roundToInt((inverse[1] * y + inverse[2]) * AB_SCALE) + roundDelta;
      int y0 = roundToInt((inverse[4] * y + inverse[5]) * AB_SCALE) + roundDelta;
      int out = y * w * 3;
      for (int x = 0; x < w; x++, out += 3) {
        int sx = (x0 + xStep[x]) >> (AB_BITS - INTER_BITS);
        int sy = (y0 + yStep[x]) >> (AB_BITS - INTER_BITS);
        int position = (sy & TAB_MASK) * LanczosTable.TAB_SIZE + (sx & TAB_MASK);
        lanczosPixel(src, planes, w, h, saturateShort(sx >> INTER_BITS),
            saturateShort(sy >> INTER_BITS), position, border, dst, out, taps);
      }
    }
  }

  /** dst(x, y) = src(inverse * (x, y)) with OpenCV's nearest rounding. */
  static void affineNearest(byte[] src, byte[] dst, int w, int h, double[] inverse, Border border) {
    int[] xStep = new int[w];
    int[] yStep = new int[w];
    for (int x = 0; x < w; x++) {
      xStep[x] = roundToInt(inverse[0] * x * AB_SCALE);
      yStep[x] = roundToInt(inverse[3] * x * AB_SCALE);
    }
    int roundDelta = AB_SCALE / 2;
    for (int y = 0; y < h; y++) {
      int x0 = roundToInt((inverse[1] * y + inverse[2]) * AB_SCALE) + roundDelta;
      int y0 = roundToInt((inverse[4] * y + inverse[5]) * AB_SCALE) + roundDelta;
      for (int x = 0; x < w; x++) {
        int sx = saturateShort((x0 + xStep[x]) >> AB_BITS);
        int sy = saturateShort((y0 + yStep[x]) >> AB_BITS);
        dst[y * w + x] = nearestPixel(src, w, h, sx, sy, border);
      }
    }
  }

  /** dst(x, y) = src(mapX[x, y], mapY[x, y]) with Lanczos-4 (cv::remap with two float maps). */
  static void remapLanczos(byte[] src, byte[] dst, int w, int h, float[] mapX, float[] mapY,
      Border border) {
    Planes planes = Planes.of(src);
    int[] taps = new int[16];
    for (int p = 0, out = 0; p < w * h; p++, out += 3) {
      int sx = roundToInt(mapX[p] * LanczosTable.TAB_SIZE);
      int sy = roundToInt(mapY[p] * LanczosTable.TAB_SIZE);
      int position = (sy & TAB_MASK) * LanczosTable.TAB_SIZE + (sx & TAB_MASK);
      lanczosPixel(src, planes, w, h, saturateShort(sx >> INTER_BITS),
          saturateShort(sy >> INTER_BITS), position, border, dst, out, taps);
    }
  }

  /** dst(x, y) = src(round(mapX), round(mapY)) (cv::remap INTER_NEAREST with float maps). */
  static void remapNearest(byte[] src, byte[] dst, int w, int h, float[] mapX, float[] mapY,
      Border border) {
    for (int p = 0; p < w * h; p++) {
      dst[p] = nearestPixel(src, w, h, saturateShort(roundToInt(mapX[p])),
          saturateShort(roundToInt(mapY[p])), border);
    }
  }

  /** One Lanczos-4 output pixel around source pixel (ix, iy) at table position {@code position}. */
  private static void lanczosPixel(byte[] src, Planes planes, int w, int h, int ix, int iy,
      int position, Border border, byte[] dst, int out, int[] taps) {
    if (position == CENTRE_ONLY_POSITION && ix >= 0 && ix < w && iy >= 0 && iy < h) {
      // At offset 0 the table holds 32767 on the centre tap and 1 on tap (4, 4) (OpenCV's short
      // saturation and nudge); the rounding absorbs the neighbour, the result is the centre pixel.
      int p = (iy * w + ix) * 3;
      dst[out] = src[p];
      dst[out + 1] = src[p + 1];
      dst[out + 2] = src[p + 2];
      return;
    }
    int sx = ix - 3;
    int sy = iy - 3;
    if (sx >= 0 && sx <= w - 8 && sy >= 0 && sy <= h - 8) {
      interior(planes, w, sy * w + sx, position * 64, dst, out);
      return;
    }
    edge(src, w, h, sx, sy, position * 64, border, dst, out, taps);
  }

  /** The 8x8 taps all inside the image: the hot path. */
  private static void interior(Planes planes, int w, int p, int t, byte[] dst, int out) {
    long[] rg = planes.redGreen();
    int[] bl = planes.blue();
    long redGreen = 0;
    int blue = 0;
    for (int row = 0; row < 8; row++, p += w, t += 8) {
      int w0 = TABLE[t];
      int w1 = TABLE[t + 1];
      int w2 = TABLE[t + 2];
      int w3 = TABLE[t + 3];
      int w4 = TABLE[t + 4];
      int w5 = TABLE[t + 5];
      int w6 = TABLE[t + 6];
      int w7 = TABLE[t + 7];
      redGreen += rg[p] * w0 + rg[p + 1] * w1 + rg[p + 2] * w2 + rg[p + 3] * w3
          + rg[p + 4] * w4 + rg[p + 5] * w5 + rg[p + 6] * w6 + rg[p + 7] * w7;
      blue += bl[p] * w0 + bl[p + 1] * w1 + bl[p + 2] * w2 + bl[p + 3] * w3
          + bl[p + 4] * w4 + bl[p + 5] * w5 + bl[p + 6] * w6 + bl[p + 7] * w7;
    }
    int red = (int) redGreen;
    dst[out] = castToByte(red);
    dst[out + 1] = castToByte((int) ((redGreen - red) >> 32));
    dst[out + 2] = castToByte(blue);
  }

  /** Some taps outside the image: read them through the border rule. */
  private static void edge(byte[] src, int w, int h, int sx, int sy, int t, Border border,
      byte[] dst, int out, int[] taps) {
    if (border == Border.CONSTANT_ZERO && (sx >= w || sx + 8 <= 0 || sy >= h || sy + 8 <= 0)) {
      dst[out] = 0;
      dst[out + 1] = 0;
      dst[out + 2] = 0;
      return;
    }
    // Near the edge: out-of-image taps read the border (constant 0 taps simply drop out).
    for (int i = 0; i < 8; i++) {
      taps[i] = borderIndex(sx + i, w, border);
      taps[8 + i] = borderIndex(sy + i, h, border);
    }
    for (int channel = 0; channel < 3; channel++) {
      int sum = 0;
      for (int row = 0; row < 8; row++) {
        int yi = taps[8 + row];
        if (yi < 0) {
          continue;
        }
        int rowStart = yi * w * 3 + channel;
        int rowWeights = t + row * 8;
        for (int column = 0; column < 8; column++) {
          int xi = taps[column];
          if (xi >= 0) {
            sum += (src[rowStart + xi * 3] & 0xFF) * TABLE[rowWeights + column];
          }
        }
      }
      dst[out + channel] = castToByte(sum);
    }
  }

  private static byte nearestPixel(byte[] src, int w, int h, int sx, int sy, Border border) {
    if (sx >= 0 && sx < w && sy >= 0 && sy < h) {
      return src[sy * w + sx];
    }
    if (border == Border.CONSTANT_ZERO) {
      return 0;
    }
    return src[borderIndex(sy, h, border) * w + borderIndex(sx, w, border)];
  }

  /** cv::borderInterpolate: -1 for a constant border outside the image. */
  static int borderIndex(int p, int length, Border border) {
    if (p >= 0 && p < length) {
      return p;
    }
    if (border == Border.CONSTANT_ZERO) {
      return -1;
    }
    if (length == 1) {
      return 0;
    }
    do {
      p = p < 0 ? -p : 2 * length - p - 2;
    } while (p < 0 || p >= length);
    return p;
  }

  /** FixedPtCast<int, uchar, 15>: round the 15-bit fixed-point sum and saturate. */
  private static byte castToByte(int sum) {
    int value = (sum + (1 << (LanczosTable.COEF_BITS - 1))) >> LanczosTable.COEF_BITS;
    return (byte) (value < 0 ? 0 : value > 255 ? 255 : value);
  }

  /** saturate_cast<int>: round half to even (cvRound); Java's narrowing saturates. */
  private static int roundToInt(double value) {
    return (int) Math.rint(value);
  }

  private static int saturateShort(int value) {
    return Math.max(Short.MIN_VALUE, Math.min(Short.MAX_VALUE, value));
  }
}
