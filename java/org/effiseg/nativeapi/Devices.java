package org.effiseg.nativeapi;

import java.util.Locale;

/** Turns a --device choice (cpu, cuda, auto) into a context; cuda never falls back silently. */
public final class Devices {
  private Devices() {}

  public static Context open(String device, int threads) {
    switch (device.toLowerCase(Locale.ROOT)) {
      case "cpu":
        return Context.cpu(threads);
      case "cuda":
        String reason = Backend.CUDA.unavailableReason();
        if (reason != null) {
          throw new EffisegException(EffisegException.Status.BACKEND_UNAVAILABLE,
              "--device cuda: the CUDA backend is unavailable: " + reason);
        }
        return Context.create(Backend.CUDA, 0, threads);
      case "auto":
        return Backend.CUDA.isAvailable() ? Context.create(Backend.CUDA, 0, threads) : Context.cpu(threads);
      default:
        throw new IllegalArgumentException("device must be cpu, cuda or auto, got " + device);
    }
  }
}
