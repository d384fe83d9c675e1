package org.effiseg.nativeapi;

/** Allocation accounting of the native core, process-wide: tests assert these return to zero. */
public final class NativeMemory {
  private NativeMemory() {}

  /** Bytes of tensor storage alive now, on every backend. */
  public static long liveBytes() {
    return EffisegNative.es_live_bytes();
  }

  /** Contexts plus tensors (views included) not yet closed. */
  public static long liveHandles() {
    return EffisegNative.es_live_handles();
  }

  /** The native core's version string. */
  public static String version() {
    return EffisegNative.es_version().getString();
  }
}
