package org.effiseg.model;

import java.util.Arrays;

/**
 * A host-side tensor in PyTorch conventions: a shape and its row-major float data.
 *
 * @param shape the dimensions, outermost first
 * @param data the values, {@code product(shape)} of them, row-major
 */
public record TensorData(long[] shape, float[] data) {

  public TensorData {
    if (shape == null || data == null) {
      throw new IllegalArgumentException("shape and data must not be null");
    }
    long n = 1;
    for (long d : shape) {
      if (d < 0) {
        throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
      }
      n *= d;
    }
    if (n != data.length) {
      throw new IllegalArgumentException(
          "shape " + Arrays.toString(shape) + " holds " + n + " values, data has " + data.length);
    }
  }

  /** Number of elements. */
  public long numel() {
    return data.length;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof TensorData t && Arrays.equals(shape, t.shape) && Arrays.equals(data, t.data);
  }

  @Override
  public int hashCode() {
    return 31 * Arrays.hashCode(shape) + Arrays.hashCode(data);
  }

  @Override
  public String toString() {
    return "TensorData" + Arrays.toString(shape);
  }
}
