package org.effiseg.nativeapi;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * The JavaCPP binding of native/include/effiseg/effiseg.h, declaration for declaration.
 *
 * <p>Only this package touches it: {@link Context}, {@link Tensor} and {@link Ops} wrap
 * every call and turn status codes into {@link EffisegException}. Handles are the C ABI's
 * opaque 64-bit ids and never leave this package.
 */
@Platform(include = "effiseg/effiseg.h", link = "effiseg")
final class EffisegNative {
  static {
    loadOpenBlas();
    extractCudaBackend();
    Loader.load();
  }

  /**
   * libeffiseg.so needs libopenblas.so.0 (and its Fortran runtime), which ship in
   * org.bytedeco:openblas's jar. Loading them directly, rather than through the openblas
   * presets' JNI library, means the 48 MB of JNI bindings we never call need not be shipped:
   * the dynamic linker resolves libeffiseg.so's dependency by the already loaded soname.
   */
  private static void loadOpenBlas() {
    // what libeffiseg.so links against from that jar, in dependency order
    for (String name : new String[] {"libquadmath.so.0", "libgfortran.so.5", "libopenblas.so.0"}) {
      String resource = "/org/bytedeco/openblas/" + Loader.getPlatform() + "/" + name;
      java.net.URL url = EffisegNative.class.getResource(resource);
      if (url == null) {
        throw new UnsatisfiedLinkError(resource + " is not on the class path: the "
            + "org.bytedeco:openblas " + Loader.getPlatform() + " jar is missing");
      }
      try {
        System.load(Loader.cacheResource(url).getAbsolutePath());
      } catch (java.io.IOException e) {
        throw new UnsatisfiedLinkError("cannot extract " + resource + ": " + e.getMessage());
      }
    }
  }

  private EffisegNative() {}

  /** Loads the native libraries (the static initializer) before any JavaCPP Pointer is made. */
  static void ensureLoaded() {}

  /**
   * Loader extracts only the libraries it knows; the core dlopen()s libeffiseg_cuda.so from
   * the folder of libeffiseg.so, so put it there (~/.javacpp/cache/...) when the jar has one.
   */
  private static void extractCudaBackend() {
    String name = Loader.getPlatform() + "/libeffiseg_cuda.so";
    if (EffisegNative.class.getResource(name) == null) {
      return; // built without CUDA
    }
    try {
      Loader.cacheResource(EffisegNative.class, name);
    } catch (java.io.IOException e) {
      // Not fatal: the CPU backend still works, and es_backend_available reports the CUDA
      // library as missing.
    }
  }

  static native @Cast("const char*") BytePointer es_last_error();

  static native @Cast("const char*") BytePointer es_version();

  static native long es_live_bytes();

  static native long es_live_handles();

  static native int es_backend_available(
      int backend, int[] available, @Cast("const char**") PointerPointer<?> reason);

  static native int es_backend_devices(int backend, int[] count);

  static native int es_backend_describe_device(int backend, int device, @Cast("char*") byte[] buf, int size);

  static native int es_context_create(
      int backend, int device, int threads, @Cast("es_handle*") long[] out);

  static native int es_context_max_threads(int[] out);

  static native int es_context_destroy(@Cast("es_handle") long ctx);

  static native int es_context_threads(@Cast("es_handle") long ctx, int[] threads);

  static native int es_context_synchronize(@Cast("es_handle") long ctx);

  static native int es_context_memory(@Cast("es_handle") long ctx, @Cast("int64_t*") long[] stats);

  static native int es_context_reset_peak_memory(@Cast("es_handle") long ctx);

  static native int es_context_profile(@Cast("es_handle") long ctx, int enable);

  static native int es_context_profile_report(
      @Cast("es_handle") long ctx, @Cast("char*") byte[] buf, long size, @Cast("int64_t*") long[] needed);

  static native int es_context_measure_peaks(
      @Cast("es_handle") long ctx, double[] flopsPerS, double[] bytesPerS);

  static native int es_tensor_create(
      @Cast("es_handle") long ctx,
      int ndim,
      @Cast("const int64_t*") long[] shape,
      int dtype,
      @Cast("es_handle*") long[] out);

  static native int es_tensor_view(
      @Cast("es_handle") long base,
      long offset,
      int ndim,
      @Cast("const int64_t*") long[] shape,
      @Cast("es_handle*") long[] out);

  static native int es_tensor_destroy(@Cast("es_handle") long t);

  static native int es_tensor_shape(
      @Cast("es_handle") long t, int[] ndim, @Cast("int64_t*") long[] shape);

  static native int es_tensor_write(
      @Cast("es_handle") long t, long offset, float[] src, long count);

  static native int es_tensor_write(
      @Cast("es_handle") long t, long offset, java.nio.FloatBuffer src, long count);

  static native int es_tensor_read(@Cast("es_handle") long t, long offset, float[] dst, long count);

  static native int es_tensor_read(
      @Cast("es_handle") long t, long offset, java.nio.FloatBuffer dst, long count);

  static native int es_tensor_fill(@Cast("es_handle") long ctx, @Cast("es_handle") long t, float value);

  static native int es_tensor_copy(
      @Cast("es_handle") long ctx, @Cast("es_handle") long src, @Cast("es_handle") long dst);

  static native int es_add(
      @Cast("es_handle") long ctx,
      @Cast("es_handle") long a,
      @Cast("es_handle") long b,
      @Cast("es_handle") long y);

  static native int es_axpby(
      @Cast("es_handle") long ctx,
      float alpha,
      @Cast("es_handle") long x,
      float beta,
      @Cast("es_handle") long y);

  static native int es_conv2d_forward(
      @Cast("es_handle") long ctx,
      @Cast("es_handle") long x,
      @Cast("es_handle") long w,
      @Cast("es_handle") long b,
      @Cast("es_handle") long y,
      int strideH,
      int strideW,
      int padTop,
      int padBottom,
      int padLeft,
      int padRight,
      int groups);

  static native int es_conv2d_forward_fused(
      @Cast("es_handle") long ctx,
      @Cast("es_handle") long x,
      @Cast("es_handle") long w,
      @Cast("es_handle") long b,
      @Cast("es_handle") long y,
      int strideH,
      int strideW,
      int padTop,
      int padBottom,
      int padLeft,
      int padRight,
      int groups,
      int activation,
      @Cast("es_handle") long scale,
      @Cast("es_handle") long shift,
      @Cast("es_handle") long residual);

  static native int es_conv2d_backward(
      @Cast("es_handle") long ctx,
      @Cast("es_handle") long x,
      @Cast("es_handle") long w,
      @Cast("es_handle") long dy,
      @Cast("es_handle") long dx,
      @Cast("es_handle") long dw,
      @Cast("es_handle") long db,
      int strideH,
      int strideW,
      int padTop,
      int padBottom,
      int padLeft,
      int padRight,
      int groups);

  static native int es_conv2d_forward_gated(
      @Cast("es_handle") long ctx,
      @Cast("es_handle") long x,
      @Cast("es_handle") long s,
      @Cast("es_handle") long w,
      @Cast("es_handle") long b,
      @Cast("es_handle") long y,
      int activation,
      @Cast("es_handle") long scale,
      @Cast("es_handle") long shift,
      @Cast("es_handle") long residual);

  static native int es_conv2d_backward_gated(
      @Cast("es_handle") long ctx,
      @Cast("es_handle") long x,
      @Cast("es_handle") long s,
      @Cast("es_handle") long w,
      @Cast("es_handle") long dy,
      @Cast("es_handle") long dx,
      @Cast("es_handle") long dw,
      @Cast("es_handle") long db,
      @Cast("es_handle") long ds);

  static native int es_conv2d_forward_blocks(
      @Cast("es_handle") long ctx,
      @Cast("es_handle") long x,
      @Cast("es_handle") long x2,
      @Cast("es_handle") long w,
      @Cast("es_handle") long b,
      @Cast("es_handle") long y,
      int activation,
      @Cast("es_handle") long scale,
      @Cast("es_handle") long shift,
      @Cast("es_handle") long residual);

  static native int es_conv2d_backward_bn(
      @Cast("es_handle") long ctx,
      @Cast("es_handle") long x,
      @Cast("es_handle") long s,
      @Cast("es_handle") long w,
      @Cast("es_handle") long gr,
      @Cast("es_handle") long bnX,
      @Cast("es_handle") long saveMean,
      @Cast("es_handle") long coef,
      int inputRelu,
      @Cast("es_handle") long dx,
      @Cast("es_handle") long dw,
      @Cast("es_handle") long ds);

  static native int es_conv2d_backward_bn_blocks(
      @Cast("es_handle") long ctx,
      @Cast("es_handle") long x,
      @Cast("es_handle") long x2,
      @Cast("es_handle") long w,
      @Cast("es_handle") long gr,
      @Cast("es_handle") long bnX,
      @Cast("es_handle") long saveMean,
      @Cast("es_handle") long coef,
      int inputRelu,
      @Cast("es_handle") long dx,
      @Cast("es_handle") long dx2,
      @Cast("es_handle") long dw);

  static native int es_batchnorm_backward_deferred(
      @Cast("es_handle") long ctx,
      @Cast("es_handle") long x,
      @Cast("es_handle") long gamma,
      @Cast("es_handle") long beta,
      @Cast("es_handle") long dy,
      @Cast("es_handle") long saveMean,
      @Cast("es_handle") long saveInvstd,
      @Cast("es_handle") long gr,
      @Cast("es_handle") long coef,
      @Cast("es_handle") long dgamma,
      @Cast("es_handle") long dbeta,
      int activation);

  static native int es_batchnorm_forward(
      @Cast("es_handle") long ctx,
      @Cast("es_handle") long x,
      @Cast("es_handle") long gamma,
      @Cast("es_handle") long beta,
      @Cast("es_handle") long runningMean,
      @Cast("es_handle") long runningVar,
      @Cast("es_handle") long y,
      @Cast("es_handle") long saveMean,
      @Cast("es_handle") long saveInvstd,
      int training,
      float momentum,
      float eps,
      int activation);

  static native int es_batchnorm_forward_repeated(
      @Cast("es_handle") long ctx,
      @Cast("es_handle") long x,
      @Cast("es_handle") long gamma,
      @Cast("es_handle") long beta,
      @Cast("es_handle") long runningMean,
      @Cast("es_handle") long runningVar,
      @Cast("es_handle") long y,
      @Cast("es_handle") long saveMean,
      @Cast("es_handle") long saveInvstd,
      int training,
      float momentum,
      float eps,
      int activation,
      long repeats);

  static native int es_batchnorm_forward_pooled(
      @Cast("es_handle") long ctx,
      @Cast("es_handle") long x,
      @Cast("es_handle") long gamma,
      @Cast("es_handle") long beta,
      @Cast("es_handle") long runningMean,
      @Cast("es_handle") long runningVar,
      @Cast("es_handle") long y,
      @Cast("es_handle") long saveMean,
      @Cast("es_handle") long saveInvstd,
      int training,
      float momentum,
      float eps,
      int activation,
      @Cast("es_handle") long pooled);

  static native int es_batchnorm_backward(
      @Cast("es_handle") long ctx,
      @Cast("es_handle") long x,
      @Cast("es_handle") long gamma,
      @Cast("es_handle") long beta,
      @Cast("es_handle") long dy,
      @Cast("es_handle") long saveMean,
      @Cast("es_handle") long saveInvstd,
      @Cast("es_handle") long dx,
      @Cast("es_handle") long dgamma,
      @Cast("es_handle") long dbeta,
      int training,
      int activation);

  static native int es_batchnorm_backward_after_relu(
      @Cast("es_handle") long ctx,
      @Cast("es_handle") long x,
      @Cast("es_handle") long gamma,
      @Cast("es_handle") long beta,
      @Cast("es_handle") long dy,
      @Cast("es_handle") long saveMean,
      @Cast("es_handle") long saveInvstd,
      @Cast("es_handle") long dx,
      @Cast("es_handle") long dgamma,
      @Cast("es_handle") long dbeta,
      int training,
      int activation);

  static native int es_batchnorm_backward_gated(
      @Cast("es_handle") long ctx,
      @Cast("es_handle") long x,
      @Cast("es_handle") long gamma,
      @Cast("es_handle") long beta,
      @Cast("es_handle") long dy,
      @Cast("es_handle") long s,
      @Cast("es_handle") long t,
      float alpha,
      @Cast("es_handle") long saveMean,
      @Cast("es_handle") long saveInvstd,
      @Cast("es_handle") long dx,
      @Cast("es_handle") long dgamma,
      @Cast("es_handle") long dbeta,
      int training,
      int activation);

  static native int es_activation_forward(
      @Cast("es_handle") long ctx, int activation, @Cast("es_handle") long x, @Cast("es_handle") long y);

  static native int es_activation_backward(
      @Cast("es_handle") long ctx,
      int activation,
      @Cast("es_handle") long x,
      @Cast("es_handle") long dy,
      @Cast("es_handle") long dx);

  static native int es_global_avg_pool_forward(
      @Cast("es_handle") long ctx, @Cast("es_handle") long x, @Cast("es_handle") long y);

  static native int es_global_avg_pool_backward(
      @Cast("es_handle") long ctx, @Cast("es_handle") long dy, @Cast("es_handle") long dx);

  static native int es_channel_scale_forward(
      @Cast("es_handle") long ctx,
      @Cast("es_handle") long x,
      @Cast("es_handle") long s,
      @Cast("es_handle") long y);

  static native int es_channel_scale_add(
      @Cast("es_handle") long ctx,
      @Cast("es_handle") long x,
      @Cast("es_handle") long s,
      @Cast("es_handle") long t,
      float alpha,
      @Cast("es_handle") long y);

  static native int es_channel_scale_backward(
      @Cast("es_handle") long ctx,
      @Cast("es_handle") long x,
      @Cast("es_handle") long s,
      @Cast("es_handle") long dy,
      @Cast("es_handle") long dx,
      @Cast("es_handle") long ds);

  static native int es_drop_path_forward(
      @Cast("es_handle") long ctx,
      @Cast("es_handle") long x,
      @Cast("es_handle") long y,
      float dropRate,
      @Cast("uint64_t") long seed,
      int training);

  static native int es_drop_path_backward(
      @Cast("es_handle") long ctx,
      @Cast("es_handle") long dy,
      @Cast("es_handle") long dx,
      float dropRate,
      @Cast("uint64_t") long seed,
      int training);

  static native int es_upsample_nearest_forward(
      @Cast("es_handle") long ctx, @Cast("es_handle") long x, @Cast("es_handle") long y, int accumulate);

  static native int es_upsample_nearest_backward(
      @Cast("es_handle") long ctx, @Cast("es_handle") long dy, @Cast("es_handle") long dx);

  static native int es_channel_copy(
      @Cast("es_handle") long ctx,
      @Cast("es_handle") long x,
      int xOffset,
      @Cast("es_handle") long y,
      int yOffset,
      int count,
      int accumulate);

  static native int es_seg_loss(
      @Cast("es_handle") long ctx,
      @Cast("es_handle") long logits,
      @Cast("es_handle") long target,
      @Cast("es_handle") long terms,
      @Cast("es_handle") long dlogits,
      float wDice,
      float wBce,
      float wNpd,
      int npdDistance);

  static native int es_adamw_step(
      @Cast("es_handle") long ctx,
      @Cast("es_handle") long params,
      @Cast("es_handle") long grads,
      @Cast("es_handle") long expAvg,
      @Cast("es_handle") long expAvgSq,
      float lr,
      float beta1,
      float beta2,
      float eps,
      float weightDecay,
      long step);
}
