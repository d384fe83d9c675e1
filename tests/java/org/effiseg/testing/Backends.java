package org.effiseg.testing;

import java.util.stream.Stream;
import org.effiseg.nativeapi.Backend;
import org.effiseg.nativeapi.Context;
import org.junit.jupiter.api.Assumptions;

/**
 * The backend-agnostic op suite runs on every backend: use
 * {@code @ParameterizedTest @MethodSource("org.effiseg.testing.Backends#all")} and open the
 * context with {@link #open(Backend)}. CPU always runs; on a machine without a usable CUDA
 * backend the CUDA cases are reported as skipped, with the reason.
 */
public final class Backends {
  private Backends() {}

  public static Stream<Backend> all() {
    return Stream.of(Backend.values());
  }

  /** A context on {@code backend}, or a visible skip (assumption failure) naming why not. */
  public static Context open(Backend backend) {
    String reason = backend.unavailableReason();
    Assumptions.assumeTrue(reason == null, () -> backend + " backend unavailable: " + reason);
    return Context.create(backend, 0, 2);
  }
}
