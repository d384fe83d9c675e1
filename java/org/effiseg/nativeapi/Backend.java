package org.effiseg.nativeapi;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
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

  /** One line per device this backend sees (name, memory, versions); empty where it is unavailable. */
  public List<String> devices() {
    EffisegNative.ensureLoaded();
    int[] count = new int[1];
    EffisegException.check(EffisegNative.es_backend_devices(ordinal(), count));
    List<String> out = new ArrayList<>();
    byte[] buf = new byte[512];
    for (int d = 0; d < count[0]; d++) {
      EffisegException.check(EffisegNative.es_backend_describe_device(ordinal(), d, buf, buf.length));
      int len = 0;
      while (len < buf.length && buf[len] != 0) {
        len++;
      }
      out.add(new String(buf, 0, len, StandardCharsets.UTF_8));
    }
    return out;
  }
}
