package org.effiseg.nativeapi;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;

/** Where ops run. The CPU backend always exists; CUDA only where its library, a driver and a GPU do. */
public enum Backend {
  CPU,
  CUDA;

  /** Whether this backend can be used in this process. */
  public boolean isAvailable() {
    return unavailableReason() == null;
  }

  /** Why this backend cannot be used here, or {@code null} if it can. */
  public String unavailableReason() {
    EffisegNative.ensureLoaded();
    int[] available = new int[1];
    try (PointerPointer<BytePointer> reason = new PointerPointer<>(1)) {
      EffisegException.check(EffisegNative.es_backend_available(ordinal(), available, reason));
      return available[0] != 0 ? null : reason.getString(0);
    }
  }
}
