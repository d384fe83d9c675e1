package org.effiseg.model;

/**
 * The weight-layout conversions, in one place: PyTorch/ONNX keep convolution weights OIHW
 * ([Cout, Cin/groups, KH, KW]) and linear weights [out, in]; the native core and TensorFlow keep
 * them HWIO ([KH, KW, Cin/groups, Cout]) and [in, out].
 */
public final class TensorLayouts {
  private TensorLayouts() {}

  /** OIHW [o, i, kh, kw] to HWIO [kh, kw, i, o]. */
  public static float[] oihwToHwio(float[] oihw, int o, int i, int kh, int kw) {
    float[] out = new float[oihw.length];
    for (int a = 0; a < o; a++) {
      for (int b = 0; b < i; b++) {
        for (int y = 0; y < kh; y++) {
          for (int x = 0; x < kw; x++) {
            out[((y * kw + x) * i + b) * o + a] = oihw[((a * i + b) * kh + y) * kw + x];
          }
        }
      }
    }
    return out;
  }

  /** HWIO [kh, kw, i, o] to OIHW [o, i, kh, kw]. */
  public static float[] hwioToOihw(float[] hwio, int kh, int kw, int i, int o) {
    float[] out = new float[hwio.length];
    for (int y = 0; y < kh; y++) {
      for (int x = 0; x < kw; x++) {
        for (int b = 0; b < i; b++) {
          int base = ((y * kw + x) * i + b) * o;
          for (int a = 0; a < o; a++) {
            out[((a * i + b) * kh + y) * kw + x] = hwio[base + a];
          }
        }
      }
    }
    return out;
  }

  /** A row-major [rows, cols] matrix as [cols, rows]. */
  public static float[] transpose(float[] a, int rows, int cols) {
    float[] out = new float[a.length];
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        out[c * rows + r] = a[r * cols + c];
      }
    }
    return out;
  }
}
