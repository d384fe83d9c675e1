package org.effiseg.nativeapi;

import java.nio.FloatBuffer;
import java.util.Arrays;

/**
 * A float32 tensor in native (CPU or GPU) memory, NHWC for activations. Close is idempotent;
 * any use after close throws {@link EffisegException}. A view shares storage with its base.
 *
 * <p>Thread-safety: close is safe from any thread, and reads or writes of different tensors may
 * run concurrently; concurrent writes to one tensor, or closing it while another thread uses it,
 * are races the caller must prevent (as for a Java array). See {@link Context} for ops.
 */
public final class Tensor implements AutoCloseable {
  private final Context context;
  private final long[] shape;
  private final long numel;
  private volatile long handle;

  Tensor(Context context, long handle) {
    this.context = context;
    this.handle = handle;
    int[] ndim = new int[1];
    long[] dims = new long[8];
    EffisegException.check(EffisegNative.es_tensor_shape(handle, ndim, dims));
    this.shape = Arrays.copyOf(dims, ndim[0]);
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    this.numel = n;
  }

  public Context context() {
    return context;
  }

  public long[] shape() {
    return shape.clone();
  }

  public long dim(int i) {
    return shape[i];
  }

  public int rank() {
    return shape.length;
  }

  public long numel() {
    return numel;
  }

  /** Copies {@code src} into the whole tensor. */
  public void write(float[] src) {
    requireLength(src.length);
    EffisegException.check(EffisegNative.es_tensor_write(handle(), 0, src, numel));
  }

  /** Copies {@code count} floats from the position of a direct buffer to element {@code offset}. */
  public void write(long offset, FloatBuffer direct, long count) {
    if (!direct.isDirect()) {
      throw new IllegalArgumentException("write(offset, FloatBuffer, count) needs a direct buffer");
    }
    if (direct.remaining() < count) {
      throw new IllegalArgumentException(
          "buffer has " + direct.remaining() + " floats left, " + count + " requested");
    }
    EffisegException.check(
        EffisegNative.es_tensor_write(handle(), offset, direct.slice(), count));
  }

  /** The whole tensor as a new array. */
  public float[] read() {
    if (numel > Integer.MAX_VALUE - 8) {
      throw new IllegalStateException("tensor " + Arrays.toString(shape) + " is too big for an array");
    }
    float[] out = new float[(int) numel];
    EffisegException.check(EffisegNative.es_tensor_read(handle(), 0, out, numel));
    return out;
  }

  /** Copies {@code count} elements starting at {@code offset} into {@code dst[0..count)}. */
  public void read(long offset, float[] dst, int count) {
    if (dst.length < count) {
      throw new IllegalArgumentException("dst holds " + dst.length + " floats, " + count + " requested");
    }
    EffisegException.check(EffisegNative.es_tensor_read(handle(), offset, dst, count));
  }

  public void fill(float value) {
    EffisegException.check(EffisegNative.es_tensor_fill(context.handle(), handle(), value));
  }

  /** Copies all elements of {@code src} (same element count) into this tensor. */
  public void copyFrom(Tensor src) {
    EffisegException.check(
        EffisegNative.es_tensor_copy(context.handle(), src.handle(), handle()));
  }

  /** A tensor of {@code shape} sharing this tensor's storage from element {@code offset}. */
  public Tensor view(long offset, long... shape) {
    long[] out = new long[1];
    EffisegException.check(
        EffisegNative.es_tensor_view(handle(), offset, shape.length, shape.clone(), out));
    return context.adopt(out[0]);
  }

  long handle() {
    long h = handle;
    if (h == 0) {
      throw new EffisegException(
          EffisegException.Status.USE_AFTER_FREE,
          "tensor " + Arrays.toString(shape) + " is closed");
    }
    return h;
  }

  /** The handle of an optional tensor argument: 0 for null. */
  static long handleOrZero(Tensor t) {
    return t == null ? 0 : t.handle();
  }

  public boolean isClosed() {
    return handle == 0;
  }

  @Override
  public void close() {
    long h;
    synchronized (this) {
      h = handle;
      if (h == 0) {
        return;
      }
      handle = 0;
    }
    context.forget(this);
    EffisegException.check(EffisegNative.es_tensor_destroy(h));
  }

  private void requireLength(int length) {
    if (length != numel) {
      throw new IllegalArgumentException(
          "array of " + length + " floats for tensor " + Arrays.toString(shape) + " (" + numel + ")");
    }
  }

  @Override
  public String toString() {
    return "Tensor" + Arrays.toString(shape) + (isClosed() ? " (closed)" : "");
  }
}
